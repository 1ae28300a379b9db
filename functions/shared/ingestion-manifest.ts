import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BatchConflictError, PipelineStateError } from './errors';
import { isNotFound, isPreconditionFailed } from './s3';
import { batchIdOfManifestKey, ingestionManifestKey, MANIFEST_PREFIX } from './ingestion-layout';
import type { TotesysTableName } from './totesys-tables';

/** What one extracted table contributed to a batch. */
export interface IngestedTable {
  readonly key: string;
  readonly rows: number;
  readonly bytes: number;
}

/**
 * A committed ingestion batch. Written last, once, after every object it names is durable: a
 * batch exists exactly when its manifest does.
 */
export interface IngestionManifest {
  readonly formatVersion: 1;
  readonly batchId: string;
  readonly previousBatchId: string | null;
  readonly attemptId: string;
  readonly extractedAt: string;
  /** The rows in this batch are the row versions visible in `range.to` and not in `range.from`. */
  readonly range: { readonly from: string | null; readonly to: string };
  /** What the next extract needs: see functions/extract/row-versions.ts. */
  readonly state: { readonly snapshot: string; readonly committedXids: readonly string[] };
  /** Tables with at least one changed row; a table with none has no entry and no object. */
  readonly tables: Partial<Record<TotesysTableName, IngestedTable>>;
  readonly totalRows: number;
}

/** The newest committed batch's manifest, or undefined before the first batch. */
export async function readLatestIngestionManifest(s3: S3Client, bucket: string): Promise<IngestionManifest | undefined> {
  const listing = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: MANIFEST_PREFIX, MaxKeys: 1 }));
  const key = listing.Contents?.[0]?.Key;
  if (!key) return undefined;
  if (!batchIdOfManifestKey(key)) throw new PipelineStateError(`Unexpected object ${key} under ${MANIFEST_PREFIX} in bucket ${bucket}`);
  return readManifestAt(s3, bucket, key);
}

export async function readIngestionManifest(s3: S3Client, bucket: string, batchId: string): Promise<IngestionManifest> {
  return readManifestAt(s3, bucket, ingestionManifestKey(batchId));
}

async function readManifestAt(s3: S3Client, bucket: string, key: string): Promise<IngestionManifest> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const text = await object.Body!.transformToString('utf-8');
  const manifest = JSON.parse(text) as IngestionManifest;
  if (manifest.formatVersion !== 1 || ingestionManifestKey(manifest.batchId) !== key) {
    throw new PipelineStateError(`Manifest ${key} in bucket ${bucket} is not a version-1 manifest of its batch`);
  }
  return manifest;
}

/**
 * Commits a batch by writing its manifest, only if no manifest of that batch exists: S3 refuses
 * the write (412) when another run committed the same batch first. The HEAD beforehand gives the
 * same answer on S3-compatible servers without conditional writes.
 */
export async function commitIngestionManifest(s3: S3Client, bucket: string, manifest: IngestionManifest): Promise<string> {
  const key = ingestionManifestKey(manifest.batchId);
  const conflict = () => new BatchConflictError(`Batch ${manifest.batchId} was committed by another extract while this one ran`);
  const existing = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    (error: unknown) => {
      if (isNotFound(error)) return false;
      throw error;
    },
  );
  if (existing) throw conflict();
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify(manifest, null, 2),
        ContentType: 'application/json',
        IfNoneMatch: '*',
      }),
    );
  } catch (error) {
    if (isPreconditionFailed(error)) throw conflict();
    throw error;
  }
  return key;
}
