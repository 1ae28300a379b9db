/**
 * npm run rebuild-warehouse -- --yes
 *
 * Empties the warehouse (star schemas, recorded deletions, the ledger of loaded batches and
 * lakes; the schema stays) and loads every batch of the lake the pipeline is pointed at: the way
 * out when Load refuses a lake that is not the warehouse's (docs/trust.md, Lineage). Versions
 * older than this lake are lost: the lake holds what it holds.
 *
 * With PROCESSED_BUCKET set it uses Load's own configuration (WAREHOUSE_DATABASE_URL or
 * WAREHOUSE_SECRET_ID, AWS credentials: an AWS deployment); otherwise the local environment of
 * `npm start` (PIPELINE_HOME, embedded PostgreSQL unless WAREHOUSE_DATABASE_URL is set).
 */
import '../state-machine/promise-with-resolvers';
import path from 'node:path';
import { readLoadConfig } from '../functions/shared/config';
import { withDatabase } from '../functions/shared/database';
import { createS3Client } from '../functions/shared/s3';
import { secretsManagerReader } from '../functions/shared/secrets';
import { emptyWarehouse } from '../functions/load/lineage';
import { loadPendingBatches } from '../functions/load/load-batches';
import { readCommandLine } from './cli';
import { startLocalEnvironment } from './local/environment';
import { preparePipelineHome } from './local/home';
import { acquireRunLock, RunInProgressError, type RunLock } from './local/run-lock';

const USAGE = `npm run rebuild-warehouse -- --yes

Empties the warehouse's star schemas, recorded deletions and load ledger, then loads every batch of
the lake the pipeline is pointed at. Versions older than that lake are lost. --yes is required.
With PROCESSED_BUCKET set: Load's AWS configuration; otherwise the local PIPELINE_HOME.

  --yes    go ahead
  --help`;

async function main(): Promise<number> {
  const line = readCommandLine(process.argv.slice(2), { usage: USAGE, options: { yes: { type: 'boolean' } } });
  if (typeof line === 'number') return line;
  const { values } = line;
  if (!values.yes) {
    console.error(`This empties the warehouse before reloading it: add --yes to go ahead.\n\n${USAGE}`);
    return 2;
  }
  const rebuild = async () => {
    const config = readLoadConfig();
    return withDatabase('Warehouse', config.warehouse, secretsManagerReader(), async (warehouse) => {
      await emptyWarehouse(warehouse).catch((error: { code?: string }) => {
        // A warehouse that was never migrated has nothing to empty.
        if (error.code !== '42P01') throw error;
      });
      console.log('Emptied the warehouse; loading every batch of the lake …');
      return loadPendingBatches({ warehouse, s3: createS3Client(config.s3), processedBucket: config.processedBucket, duckdb: config.duckdb });
    });
  };
  let result;
  if (process.env.PROCESSED_BUCKET) {
    result = await rebuild();
  } else {
    const home = path.resolve(process.env.PIPELINE_HOME ?? '.pipeline');
    preparePipelineHome(home);
    // Not while a local run loads the same warehouse (or uses the same embedded server).
    let lock: RunLock;
    try {
      lock = acquireRunLock(home, 'npm run rebuild-warehouse');
    } catch (error) {
      if (!(error instanceof RunInProgressError)) throw error;
      console.error(error.message);
      return 1;
    }
    try {
      const environment = await startLocalEnvironment({ home, totesysUrl: process.env.TOTESYS_DATABASE_URL, warehouseUrl: process.env.WAREHOUSE_DATABASE_URL });
      try {
        Object.assign(process.env, environment.stepEnv);
        result = await rebuild();
      } finally {
        await environment.stop();
      }
    } finally {
      lock.release();
    }
  }
  const rows = Object.values(result.rows).reduce((sum, n) => sum + n, 0);
  console.log(`Rebuilt: loaded batches ${result.loadedBatchIds.join(', ') || '(none: the lake is empty)'}, ${rows.toLocaleString('en-GB')} rows.`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`rebuild-warehouse failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    process.exit(1);
  },
);
