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
