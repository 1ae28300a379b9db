import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { BatchConflictError, PipelineStateError } from './errors';
import { MANIFEST_PREFIX } from './lake-layout';
import { isNotFound, isWriteConflict } from './s3';

/**
 * Batches and their manifests, the same way in both buckets (ingestion and processed).
 *
 *   manifests/<9999999999 - n>_batch-<n>.json    the manifest of batch n: its commit point
 *
 * Batch numbers count up from 1, zero-padded to ten digits. Manifest keys start with the
 * complement of the number, so S3's ascending listing returns the newest batch first: finding the
 * last committed batch costs one request however many there are. A manifest is written last, once,
 * with `If-None-Match: *`, after every object it names is durable: a batch exists exactly when its
 * manifest does, and objects that no manifest names (a failed attempt's) are never read. Data
 * objects carry the id of the attempt that wrote them, so a retried or concurrent run never writes
 * to a key that exists.
 */
export interface BatchManifest {
  readonly formatVersion: 1;
  readonly batchId: string;
  readonly attemptId: string;
}

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

/** The batch after `batchId`, or the first batch when there is none. */
export function nextBatchId(batchId: string | undefined | null): string {
  return batchIdOf(batchId ? sequenceOf(batchId) + 1 : 1);
}

/** The batch before `batchId`, or undefined for the first batch. */
export function previousBatchIdOf(batchId: string): string | undefined {
  const sequence = sequenceOf(batchId);
  return sequence > 1 ? batchIdOf(sequence - 1) : undefined;
}

export function manifestKey(batchId: string): string {
  const inverted = String(MAX_SEQUENCE - sequenceOf(batchId)).padStart(DIGITS, '0');
  return `${MANIFEST_PREFIX}${inverted}_batch-${batchId}.json`;
}

/** The batch id a manifest key names, or undefined for a key that is not a manifest. */
export function batchIdOfManifestKey(key: string): string | undefined {
  const match = key.startsWith(MANIFEST_PREFIX) ? /^(\d{10})_batch-(\d{10})\.json$/.exec(key.slice(MANIFEST_PREFIX.length)) : null;
  if (!match || manifestKey(match[2]!) !== key) return undefined;
  return match[2];
}

/** A fresh attempt id: sortable by time, unique by its random part. */
export function newAttemptId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

/** The newest committed batch's manifest in `bucket`, or undefined before the first batch. */
export async function readLatestManifest<M extends BatchManifest>(s3: S3Client, bucket: string): Promise<M | undefined> {
  const listing = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: MANIFEST_PREFIX, MaxKeys: 1 }));
  const key = listing.Contents?.[0]?.Key;
  if (!key) return undefined;
  const batchId = batchIdOfManifestKey(key);
  if (!batchId) throw new PipelineStateError(`Unexpected object ${key} under ${MANIFEST_PREFIX} in bucket ${bucket}`);
  return readManifest<M>(s3, bucket, batchId);
}

export async function readManifest<M extends BatchManifest>(s3: S3Client, bucket: string, batchId: string): Promise<M> {
  const key = manifestKey(batchId);
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const manifest = JSON.parse(await object.Body!.transformToString('utf-8')) as M;
  if (manifest.formatVersion !== 1 || manifest.batchId !== batchId) {
    throw new PipelineStateError(`Manifest ${key} in bucket ${bucket} is not a version-1 manifest of batch ${batchId}`);
  }
  return manifest;
}

/** The manifest of `batchId`, or undefined when that batch is not committed. */
export async function findManifest<M extends BatchManifest>(s3: S3Client, bucket: string, batchId: string): Promise<M | undefined> {
  try {
    return await readManifest<M>(s3, bucket, batchId);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Commits a batch by writing its manifest, only if no manifest of that batch exists: S3 refuses
 * the write (412, or 409 while the other write is in flight) when another run committed the same batch first. The HEAD beforehand gives the
 * same answer on S3-compatible servers without conditional writes.
 */
export async function commitManifest(s3: S3Client, bucket: string, manifest: BatchManifest): Promise<string> {
  const key = manifestKey(manifest.batchId);
  const conflict = () => new BatchConflictError(`Batch ${manifest.batchId} in bucket ${bucket} was committed by another run while this one ran`);
  const exists = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    (error: unknown) => {
      if (isNotFound(error)) return false;
      throw error;
    },
  );
  if (exists) throw conflict();
  try {
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(manifest, null, 2), ContentType: 'application/json', IfNoneMatch: '*' }),
    );
  } catch (error) {
    if (isWriteConflict(error)) throw conflict();
    throw error;
  }
  return key;
}
