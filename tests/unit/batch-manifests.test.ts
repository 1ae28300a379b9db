import { batchIdOf, batchIdOfManifestKey, manifestKey, newAttemptId } from '../../functions/shared/batch-manifests';
import { ingestionObjectKey } from '../../functions/shared/ingestion-manifest';

describe('the batch and object key layout', () => {
  it('names batches with ten zero-padded digits', () => {
    expect(batchIdOf(42)).toBe('0000000042');
    expect(() => batchIdOf(0)).toThrow(RangeError);
    expect(() => batchIdOf(1.5)).toThrow(RangeError);
  });

  it('orders manifest keys newest first, so one listed key is the latest batch', () => {
    const keys = [1, 2, 10, 11, 100, 9_999].map((n) => manifestKey(batchIdOf(n)));
    expect([...keys].sort()).toEqual([...keys].reverse());
    expect(manifestKey('0000000042')).toBe('manifests/9999999957_batch-0000000042.json');
  });

  it('reads the batch back from a manifest key and rejects keys that are not manifests', () => {
    expect(batchIdOfManifestKey('manifests/9999999957_batch-0000000042.json')).toBe('0000000042');
    expect(batchIdOfManifestKey('manifests/9999999958_batch-0000000042.json')).toBeUndefined();
    expect(batchIdOfManifestKey('manifests/notes.txt')).toBeUndefined();
  });

  it('keeps each attempt of a batch under its own key', () => {
    const a = newAttemptId(new Date('2026-11-27T08:05:12.345Z'));
    const b = newAttemptId(new Date('2026-11-27T08:05:12.345Z'));
    expect(a).toMatch(/^20261127T080512Z-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(ingestionObjectKey('sales_order', '0000000007', a)).toBe(`tables/sales_order/batch-0000000007/${a}.jsonl.gz`);
  });
});
