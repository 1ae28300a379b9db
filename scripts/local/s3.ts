import type { S3Client } from '@aws-sdk/client-s3';
import crypto from 'node:crypto';
import S3rver from 's3rver';
import { readS3Settings } from '../../functions/shared/config';
import { createS3Client } from '../../functions/shared/s3';

/**
 * The buckets on this machine: s3rver speaks the S3 protocol in-process, so the steps run their
 * real @aws-sdk/client-s3 code paths against it. Two behaviours of the AWS buckets are added in
 * front of it, because s3rver lacks them and the pipeline relies on them:
 *  - conditional writes: a PUT or CompleteMultipartUpload with `If-None-Match: *` on an existing
 *    key fails with 412 PreconditionFailed, as S3 does;
 *  - objects appear whole: s3rver writes a file in place, so a GET racing a PUT could read half
 *    of it; here an object being written is not found until its write has finished, as on S3;
 *  - append-only buckets: overwriting or deleting an object is refused with 403 AccessDenied, as
 *    the deployed bucket policy refuses it to the pipeline's roles. Any code path that would
 *    overwrite a lake object fails loudly here too.
 */
export interface LocalS3 {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export interface LocalS3Options {
  readonly directory: string;
  readonly buckets: readonly string[];
  readonly port?: number;
}

/** s3rver's fixed credentials: the local server accepts nothing else. */
export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' } as const;

/**
 * The environment that points a step's S3 client at a local server, as the step's configuration
 * reads it (functions/shared/config.ts, readS3Settings): the same for npm start, the bench's step
 * processes and the tests. The buckets and the databases are each caller's own.
 */
export function localS3Environment(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REGION: 'eu-west-2',
    ...S3RVER_CREDENTIALS,
    // The pinned SDK warns on every process that Node 20 support ends in 2027; Lambda runs Node 22.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/**
 * A client of a local server, configured as a step configures its own from localS3Environment.
 * The SDK takes the credentials from process.env: S3RVER_CREDENTIALS must be there.
 */
export function localS3Client(endpoint: string): S3Client {
  return createS3Client(readS3Settings(localS3Environment(endpoint)));
}

export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  allowSingleDesContinuationTokens();
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory: options.directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  // Keys being written right now: a second write of the same key must fail even before the first
  // has reached the disk, or two racing conditional writes would both succeed.
  const writing = new Set<string>();
  server.middleware.unshift(async (ctx, next) => {
    const target = objectWriteTarget(ctx);
    // Claimed before any await, so that of two racing writes of one key the second sees the first.
    const claimed = target !== undefined && !writing.has(target);
    if (claimed) writing.add(target);
    try {
      const refusal = unfinishedObject(ctx, writing) ?? (await refuseOverwriteOrDelete(server, ctx, target !== undefined && !claimed));
      if (!refusal) return await next();
      ctx.status = refusal.status;
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refusal.code}</Code><Message>${refusal.message}</Message></Error>`;
    } finally {
      if (claimed) writing.delete(target);
    }
  });
  const address = await server.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    stop: async () => {
      server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}

type Context = Parameters<S3rver['middleware'][number]>[0];

function bucketAndKey(ctx: Context): { bucket?: string; key: string } {
  const [, bucket, ...keyParts] = ctx.path.split('/');
  return { bucket, key: decodeURIComponent(keyParts.join('/')) };
}

/** A read of an object whose write has not finished: S3 shows an object only once it is whole. */
function unfinishedObject(ctx: Context, writing: ReadonlySet<string>): { status: number; code: string; message: string } | undefined {
  const { bucket, key } = bucketAndKey(ctx);
  if (!bucket || !key || (ctx.method !== 'GET' && ctx.method !== 'HEAD') || !writing.has(`${bucket}/${key}`)) return undefined;
  return { status: 404, code: 'NoSuchKey', message: `The specified key does not exist: ${key}` };
}

/** "bucket/key" when the request creates an object (PUT, or completing a multipart upload). */
function objectWriteTarget(ctx: Context): string | undefined {
  const { bucket, key } = bucketAndKey(ctx);
  const has = (name: string) => name in ctx.query;
  const createsObject = (ctx.method === 'PUT' && !has('partNumber')) || (ctx.method === 'POST' && has('uploadId'));
  return bucket && key && createsObject ? `${bucket}/${key}` : undefined;
}

async function refuseOverwriteOrDelete(
  server: S3rver,
  ctx: Context,
  beingWritten: boolean,
): Promise<{ status: number; code: string; message: string } | undefined> {
  const { bucket, key } = bucketAndKey(ctx);
  if (!bucket) return undefined;
  const has = (name: string) => name in ctx.query;
  if (ctx.method === 'POST' && has('delete')) {
    return { status: 403, code: 'AccessDenied', message: 'Objects in this append-only bucket cannot be deleted' };
  }
  if (!key) return undefined;
  if (ctx.method === 'DELETE' && !has('uploadId')) {
    return { status: 403, code: 'AccessDenied', message: `Objects in this append-only bucket cannot be deleted: ${key}` };
  }
  if (!objectWriteTarget(ctx)) return undefined;
  if (!beingWritten && !(await server.store.existsObject(bucket, key))) return undefined;
  if (beingWritten && ctx.headers['if-none-match'] === '*') {
    return { status: 409, code: 'ConditionalRequestConflict', message: `A conflicting conditional write to ${key} is in progress` };
  }
  if (ctx.headers['if-none-match'] === '*') {
    return { status: 412, code: 'PreconditionFailed', message: `At least one of the pre-conditions you specified did not hold: ${key} exists` };
  }
  return { status: 403, code: 'AccessDenied', message: `Objects in this append-only bucket cannot be overwritten: ${key}` };
}

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 (Node 17+)
 * only offers through its legacy provider: every truncated listing fails with a 500. Triple DES
 * has the same 8-byte blocks and is in the default provider, so `des` is mapped to it (key
 * repeated). Only s3rver asks for `des` in this process; the tokens only round-trip through it.
 */
let desPatched = false;
function allowSingleDesContinuationTokens(): void {
  if (desPatched) return;
  desPatched = true;
  const tripleKey = (key: crypto.CipherKey) => Buffer.concat([Buffer.from(key as Buffer), Buffer.from(key as Buffer), Buffer.from(key as Buffer)]);
  const { createCipheriv, createDecipheriv } = crypto;
  const patched = crypto as unknown as Record<'createCipheriv' | 'createDecipheriv', (...args: unknown[]) => unknown>;
  patched.createCipheriv = (algorithm: unknown, key: unknown, iv: unknown, options?: unknown) =>
    algorithm === 'des'
      ? createCipheriv('des-ede3-cbc', tripleKey(key as Buffer), iv as Buffer)
      : (createCipheriv as (...args: unknown[]) => unknown)(algorithm, key, iv, options);
  patched.createDecipheriv = (algorithm: unknown, key: unknown, iv: unknown, options?: unknown) =>
    algorithm === 'des'
      ? createDecipheriv('des-ede3-cbc', tripleKey(key as Buffer), iv as Buffer)
      : (createDecipheriv as (...args: unknown[]) => unknown)(algorithm, key, iv, options);
}
