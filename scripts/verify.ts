/**
 * npm run verify [-- --json] [-- --help]
 *
 * Compares the warehouse with ToteSys as of the last batch the warehouse loaded
 * (functions/verify/verify-warehouse.ts): exit 0 when equal, 1 when not (or when it cannot
 * compare), 2 on a usage error.
 *
 * With INGESTION_BUCKET set it uses the verify Lambda's configuration (TOTESYS_* and WAREHOUSE_*
 * URLs or secrets, AWS credentials); otherwise the local environment of `npm start`: the lake in
 * PIPELINE_HOME (default ./.pipeline) and the databases named by TOTESYS_DATABASE_URL and
 * WAREHOUSE_DATABASE_URL, or the embedded PostgreSQL that npm start keeps there. It never seeds
 * or creates anything.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { withDatabase } from '../functions/shared/database';
import { createS3Client } from '../functions/shared/s3';
import { secretsManagerReader } from '../functions/shared/secrets';
import { readVerifyConfig } from '../functions/verify/config';
import { formatReport, type VerificationResult } from '../functions/verify/report';
import { verifyWarehouse } from '../functions/verify/verify-warehouse';
import { readCommandLine } from './cli';
import { startLocalEnvironment } from './local/environment';
import { databaseUrl, startEmbeddedPostgres, type LocalPostgres } from './local/postgres';

const USAGE = `npm run verify [-- --json]

Compares the warehouse's current state with ToteSys as of the last batch the warehouse loaded:
every dimension row and every fact's current version, column by column, and dim_date against
the calendar its facts need. Rows ToteSys changed after that batch are counted, not compared.
Exit status: 0 equal, 1 not equal (or nothing to compare), 2 usage error.

Uses the local environment of npm start: the lake in PIPELINE_HOME (default ./.pipeline) and the
databases named by TOTESYS_DATABASE_URL and WAREHOUSE_DATABASE_URL, or else the embedded
PostgreSQL kept in PIPELINE_HOME. With INGESTION_BUCKET set: the AWS configuration instead
(TOTESYS_DATABASE_URL or TOTESYS_SECRET_ID, WAREHOUSE_DATABASE_URL or WAREHOUSE_SECRET_ID).

  --json   print the result as JSON instead of the table
  --help`;

class NotReadyError extends Error {}

async function main(): Promise<number> {
  const line = readCommandLine(process.argv.slice(2), { usage: USAGE, options: { json: { type: 'boolean' } } });
  if (typeof line === 'number') return line;
  const { values } = line;
  let result: VerificationResult;
  try {
    result = process.env.INGESTION_BUCKET ? await verifyDeployed() : await verifyLocal();
  } catch (error) {
    if (error instanceof NotReadyError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  console.log(values.json ? JSON.stringify(result, null, 2) : formatReport(result));
  return result.mismatchedRows === 0 ? 0 : 1;
}

async function verifyDeployed(): Promise<VerificationResult> {
  const config = readVerifyConfig();
  const readSecret = secretsManagerReader();
  return withDatabase('ToteSys', config.totesys, readSecret, (totesys) =>
    withDatabase('Warehouse', config.warehouse, readSecret, (warehouse) =>
      verifyWarehouse({ totesys, warehouse, s3: createS3Client(config.s3), ingestionBucket: config.ingestionBucket }),
    ),
  );
}

async function verifyLocal(): Promise<VerificationResult> {
  const home = path.resolve(process.env.PIPELINE_HOME ?? '.pipeline');
  const relative = path.relative(process.cwd(), home);
  const shownHome = relative && !relative.startsWith('..') ? relative : home;
  if (!existsSync(path.join(home, 's3'))) throw new NotReadyError(`No lake in PIPELINE_HOME=${shownHome} (nothing in ${path.join(shownHome, 's3')}): run npm start first.`);
  let totesysUrl = process.env.TOTESYS_DATABASE_URL;
  let warehouseUrl = process.env.WAREHOUSE_DATABASE_URL;
  let embedded: LocalPostgres | undefined;
  try {
    if (!totesysUrl || !warehouseUrl) {
      embedded = await startEmbedded(home, shownHome);
      if (!totesysUrl) totesysUrl = await existingDatabase(embedded, 'totesys', shownHome);
      if (!warehouseUrl) warehouseUrl = await existingDatabase(embedded, 'warehouse', shownHome);
    }
    // Both URLs given: the environment starts only the S3 server over the lake, and seeds nothing.
    const environment = await startLocalEnvironment({ home, totesysUrl, warehouseUrl });
    try {
      Object.assign(process.env, environment.stepEnv);
      console.log(`Verifying the warehouse of PIPELINE_HOME=${shownHome} against ToteSys …`);
      return await verifyDeployed();
    } finally {
      await environment.stop();
    }
  } finally {
    await embedded?.stop();
  }
}

/** The embedded PostgreSQL npm start keeps in PIPELINE_HOME; never a new one. */
async function startEmbedded(home: string, shownHome: string): Promise<LocalPostgres> {
  const dataDir = path.join(home, 'postgres', 'data');
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    throw new NotReadyError(`No embedded PostgreSQL in PIPELINE_HOME=${shownHome} (nothing in ${path.join(shownHome, 'postgres', 'data')}): run npm start first.`);
  }
  try {
    return await startEmbeddedPostgres(dataDir, undefined, { note: (message) => console.log(message) });
  } catch (error) {
    throw new NotReadyError(
      `Could not start the embedded PostgreSQL in ${path.join(shownHome, 'postgres', 'data')}: ${(error as Error).message}. ` +
        'Is npm start (or npm run warehouse) using it? Only one server at a time can.',
    );
  }
}

/** The URL of database `name` on the embedded server, which npm start created on its first run. */
async function existingDatabase(server: LocalPostgres, name: 'totesys' | 'warehouse', shownHome: string): Promise<string> {
  const sql = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [found] = await sql`SELECT 1 AS found FROM pg_database WHERE datname = ${name}`;
    if (!found) throw new NotReadyError(`The embedded PostgreSQL in PIPELINE_HOME=${shownHome} has no ${name} database yet: run npm start first.`);
  } finally {
    await sql.end();
  }
  return databaseUrl(server.adminUrl, name);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`verify failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    process.exit(1);
  },
);
