/**
 * npm run quarantine [-- --json] [-- --help]
 *
 * Lists the ToteSys rows Transform holds in quarantine after the newest transformed batch, and
 * why (docs/quarantine.md). Reads only the processed bucket: with PROCESSED_BUCKET set, the AWS
 * one (AWS credentials from the environment); otherwise the local lake in PIPELINE_HOME.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { readLatestManifest } from '../functions/shared/batch-manifests';
import { readS3Settings } from '../functions/shared/config';
import type { ProcessedManifest } from '../functions/shared/processed-manifest';
import { describeHeldRow, readHeldRows, type HeldRow } from '../functions/shared/quarantine';
import { createS3Client } from '../functions/shared/s3';
import { readCommandLine } from './cli';
import { LOCAL_BUCKETS } from './local/environment';
import { localS3Client, S3RVER_CREDENTIALS, startLocalS3 } from './local/s3';

const USAGE = `npm run quarantine [-- --json]

Lists the ToteSys rows held in quarantine after the newest transformed batch: table, key, field,
why, and the ingestion object and line they came from. Every batch retries them; a row fixed in
ToteSys, or whose referenced row arrives, leaves by itself (docs/quarantine.md).
Exit status: 0 nothing held, 1 rows held (or no lake), 2 usage error.

Reads the local lake in PIPELINE_HOME (default ./.pipeline); with PROCESSED_BUCKET set, that
bucket in AWS instead.

  --json   print the held rows as JSON, original lines included
  --help`;

async function main(): Promise<number> {
  const line = readCommandLine(process.argv.slice(2), { usage: USAGE, options: { json: { type: 'boolean' } } });
  if (typeof line === 'number') return line;
  const { values } = line;
  const found = await withProcessedBucket(async (s3, bucket) => {
    const latest = await readLatestManifest<ProcessedManifest>(s3, bucket);
    return { latest, held: await readHeldRows(s3, bucket, latest?.quarantine?.key) };
  });
  if (!found) return 1;
  if (values.json) {
    console.log(JSON.stringify({ batchId: found.latest?.batchId ?? null, held: found.held }, null, 2));
  } else {
    console.log(formatHeldRows(found.latest?.batchId ?? null, found.held));
  }
  return found.held.length === 0 ? 0 : 1;
}

export function formatHeldRows(batchId: string | null, held: readonly HeldRow[]): string {
  if (batchId === null) return 'No batch has been transformed yet: nothing is held.';
  if (held.length === 0) return `Nothing is held in quarantine after batch ${batchId}.`;
  return [
    `${held.length} row(s) held in quarantine after batch ${batchId}:`,
    ...held.map((row) => `  ${describeHeldRow(row)}`),
    '',
    'Fix them in ToteSys (the next run retries them), or wait for the rows they reference; --json shows their original lines.',
  ].join('\n');
}

async function withProcessedBucket<T>(work: (s3: S3Client, bucket: string) => Promise<T>): Promise<T | undefined> {
  if (process.env.PROCESSED_BUCKET) return work(createS3Client(readS3Settings(process.env)), process.env.PROCESSED_BUCKET);
  const home = path.resolve(process.env.PIPELINE_HOME ?? '.pipeline');
  if (!existsSync(path.join(home, 's3'))) {
    console.error(`No lake in PIPELINE_HOME=${home} (nothing in ${path.join(home, 's3')}): run npm start first.`);
    return undefined;
  }
  // The local server accepts only its own credentials, and the SDK reads them from the environment.
  Object.assign(process.env, S3RVER_CREDENTIALS);
  const server = await startLocalS3({ directory: path.join(home, 's3'), buckets: Object.values(LOCAL_BUCKETS) });
  try {
    return await work(localS3Client(server.endpoint), LOCAL_BUCKETS.processed);
  } finally {
    await server.stop();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`quarantine failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
      process.exit(1);
    },
  );
}
