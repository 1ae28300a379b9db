import { PutObjectCommand } from '@aws-sdk/client-s3';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bucketFiles } from '../../functions/shared/s3-files';
import { freshBucket, useLocalS3 } from '../support/local-s3';

/** A batch's objects as local files (s3-files.ts bucketFiles): fetched side by side, each once, never outside the folder. */
describe('bucket files', () => {
  const lake = useLocalS3([]);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'bucket-files-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('downloads each prefetched object once, to its key under the folder', async () => {
    const s3 = lake.client();
    const bucket = await freshBucket(s3, 'bucket-files');
    const keys = ['tables/a/batch-1/x.jsonl.gz', 'state/b/batch-1/y.parquet'];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
    let gets = 0;
    s3.middlewareStack.add((next, context) => async (args) => {
      if (context.commandName === 'GetObjectCommand') gets += 1;
      return next(args);
    }, { step: 'initialize', name: 'countGets' });

    const files = bucketFiles(s3, bucket, dir);
    files.prefetch(keys);
    const [first, again, second] = await Promise.all([files.file(keys[0]!), files.file(keys[0]!), files.file(keys[1]!)]);
    expect(first).toBe(path.join(dir, 'tables', 'a', 'batch-1', 'x.jsonl.gz'));
    expect(again).toBe(first);
    expect(readFileSync(second, 'utf-8')).toBe(`body of ${keys[1]}`);
    expect(gets).toBe(2);
  });

  it('fails the read of an object whose download failed, and refuses a key that would leave the folder', async () => {
    const s3 = lake.client();
    const bucket = await freshBucket(s3, 'bucket-files');
    const files = bucketFiles(s3, bucket, dir);
    // Prefetched and never read: its failure is not an unhandled rejection (jest would fail the run).
    files.prefetch(['missing/never-read.parquet']);
    await expect(files.file('missing/object.parquet')).rejects.toMatchObject({ name: 'NoSuchKey' });
    await expect(files.file('../outside.parquet')).rejects.toThrow('Object key ../outside.parquet cannot be a local path');
    await files.settled();
    expect(existsSync(path.join(dir, '..', 'outside.parquet'))).toBe(false);
  });
});
