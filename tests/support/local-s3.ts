import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { localS3Client, localS3Environment, S3RVER_CREDENTIALS, startLocalS3, type LocalS3 } from '../../scripts/local/s3';

export interface TestS3 {
  readonly endpoint: string;
  /** A client of the local server, built the way the steps build theirs. */
  client(): S3Client;
  /** Environment that points a step's configuration at the local server. */
  env(): Record<string, string>;
}

/** Starts a local S3 server (s3rver) with the given buckets for the calling suite. */
export function useLocalS3(buckets: readonly string[]): TestS3 {
  let server: LocalS3 | undefined;
  let directory = '';
  beforeAll(async () => {
    directory = mkdtempSync(path.join(tmpdir(), 'totesys-s3-'));
    server = await startLocalS3({ directory, buckets });
    Object.assign(process.env, S3RVER_CREDENTIALS);
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(directory, { recursive: true, force: true });
  });
  return {
    get endpoint() {
      return server!.endpoint;
    },
    client: () => localS3Client(server!.endpoint),
    env: () => localS3Environment(server!.endpoint),
  };
}

export async function listKeys(s3: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((object) => object.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys;
}

export async function readObject(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

/** The raw lines of a gzipped JSONL object. */
export async function readJsonLines(s3: S3Client, bucket: string, key: string): Promise<string[]> {
  const text = gunzipSync(await readObject(s3, bucket, key)).toString('utf-8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
}

let bucketCounter = 0;

/** Creates a new empty bucket on the local server, so each test starts with an empty lake. */
export async function freshBucket(s3: S3Client, label: string): Promise<string> {
  bucketCounter += 1;
  const name = `${label}-${process.pid}-${bucketCounter}`.toLowerCase();
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}
