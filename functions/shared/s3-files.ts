import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Streams an object to a local file (DuckDB cannot read S3 itself here: no httpfs). */
export async function downloadObject(s3: S3Client, bucket: string, key: string, file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  await pipeline(object.Body as Readable, createWriteStream(file));
}

/** Streams a local file to a new object, as a multipart upload when large. */
export async function uploadFile(s3: S3Client, bucket: string, key: string, file: string, contentType: string): Promise<void> {
  await new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: createReadStream(file), ContentType: contentType },
    partSize: 8 * 1024 * 1024,
    queueSize: 2,
    leavePartsOnError: false,
  }).done();
}

/** Waits for every upload, then fails with the first failure, if any: none is left running while the session's folder is removed. */
export async function allUploaded(uploads: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(uploads)).find((outcome) => outcome.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * Objects of one bucket as local files under `dir` (at `dir/<key>`), each downloaded once: when
 * first asked for, or earlier, all at once, by {@link BucketFiles.prefetch}. A step that reads many
 * small objects one after another (an incremental batch's tables, deletions and state parts) pays
 * one round trip for them instead of one each.
 */
export interface BucketFiles {
  readonly bucket: string;
  /** Starts downloading these objects now, side by side. */
  prefetch(keys: readonly string[]): void;
  /** The object's local file, once downloaded; fails as its download failed. */
  file(key: string): Promise<string>;
  /** Waits for every download started, failed or not: none is left writing while the folder is removed. */
  settled(): Promise<void>;
}

export function bucketFiles(s3: S3Client, bucket: string, dir: string): BucketFiles {
  const downloads = new Map<string, Promise<string>>();
  const start = (key: string): Promise<string> => {
    let download = downloads.get(key);
    if (!download) {
      // Keys come from the lake's own manifests; one that would leave the folder is refused all the same.
      if (key.split('/').some((part) => part === '' || part === '.' || part === '..')) return Promise.reject(new Error(`Object key ${key} cannot be a local path`));
      const file = path.join(dir, ...key.split('/'));
      download = downloadObject(s3, bucket, key, file).then(() => file);
      // Awaited by whoever reads the file; until then a failure must not count as unhandled.
      download.catch(() => {});
      downloads.set(key, download);
    }
    return download;
  };
  return {
    bucket,
    prefetch: (keys) => keys.forEach(start),
    file: start,
    settled: async () => {
      await Promise.allSettled(downloads.values());
    },
  };
}
