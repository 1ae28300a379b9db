import { randomBytes } from 'node:crypto';
import type { TotesysTableName } from './totesys-tables';

/**
 * The one place that names objects in the ingestion bucket.
 *
 *   manifests/<9999999999 - n>_batch-<n>.json                  the batch's manifest: its commit point
 *   tables/<table>/batch-<n>/<attemptId>.jsonl.gz                the table's changed rows in batch n
 *
 * Batch numbers count up from 1, zero-padded to ten digits. Manifest keys start with the
 * complement of the number so that S3's ascending listing returns the newest batch first: finding
 * the last committed batch costs one request however many batches there are. Data objects carry
 * the id of the attempt that wrote them, so a retried or concurrent extract never writes to a key
 * that exists; only objects named by a committed manifest belong to a batch.
 */
export const MANIFEST_PREFIX = 'manifests/';
const MAX_SEQUENCE = 9_999_999_999;
const DIGITS = 10;

export function batchIdOf(sequence: number): string {
  if (!Number.isInteger(sequence) || sequence < 1 || sequence > MAX_SEQUENCE) throw new RangeError(`Batch sequence out of range: ${sequence}`);
  return String(sequence).padStart(DIGITS, '0');
}

export function sequenceOf(batchId: string): number {
  if (!/^\d{10}$/.test(batchId)) throw new RangeError(`Not a batch id: "${batchId}"`);
  return Number(batchId);
}

export function ingestionManifestKey(batchId: string): string {
  const inverted = String(MAX_SEQUENCE - sequenceOf(batchId)).padStart(DIGITS, '0');
  return `${MANIFEST_PREFIX}${inverted}_batch-${batchId}.json`;
}

/** The batch id a manifest key names, or undefined for a key that is not a manifest. */
export function batchIdOfManifestKey(key: string): string | undefined {
  const match = /^manifests\/(\d{10})_batch-(\d{10})\.json$/.exec(key);
  if (!match || ingestionManifestKey(match[2]!) !== key) return undefined;
  return match[2];
}

export function ingestionObjectKey(table: TotesysTableName, batchId: string, attemptId: string): string {
  return `tables/${table}/batch-${batchId}/${attemptId}.jsonl.gz`;
}

/** A fresh attempt id: sortable by time, unique by its random part. */
export function newAttemptId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}
