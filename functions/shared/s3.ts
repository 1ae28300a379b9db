import { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from './config';

export function createS3Client(settings: S3Settings): S3Client {
  return new S3Client({
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    // Checksums only where S3 requires them: the SDK's default (CRC32 on every upload, sent as
    // aws-chunked trailers) is not understood by every S3-compatible server, and each part's
    // integrity is already checked with Content-MD5 by multipart uploads.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** True when S3 refused a write because the key exists (If-None-Match: *). */
export function isPreconditionFailed(error: unknown): boolean {
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'PreconditionFailed' || e?.Code === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412;
}

/**
 * True when a conditional write lost to another writer of the same key: either that write has
 * finished (412, the key exists) or it is still in progress (409 ConditionalRequestConflict).
 */
export function isWriteConflict(error: unknown): boolean {
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return isPreconditionFailed(error) || e?.name === 'ConditionalRequestConflict' || e?.Code === 'ConditionalRequestConflict' || e?.$metadata?.httpStatusCode === 409;
}

/** True when S3 says the key does not exist. */
export function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}
