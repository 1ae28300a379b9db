/**
 * Bench step: Load of every pending processed batch, wired as the Lambda handler wires it
 * (configuration from the environment, one connection), minus the middleware and logger.
 */
import { loadPendingBatches } from '../../functions/load/load-batches';
import { readLoadConfig } from '../../functions/shared/config';
import { openDatabase } from '../../functions/shared/database';
import { createS3Client } from '../../functions/shared/s3';
import { LOG_EVENTS } from '../../functions/shared/log-events';
import { stepMain, type TableVolumes } from './step-process';

stepMain(async (_input: null, progress): Promise<{ batchIds: readonly string[]; rows: number; tables: TableVolumes }> => {
  const config = readLoadConfig();
  if (!('url' in config.warehouse)) throw new Error('the bench passes WAREHOUSE_DATABASE_URL');
  const warehouse = openDatabase(config.warehouse.url, { max: 1 });
  const s3 = createS3Client(config.s3);
  const tables: TableVolumes = {};
  try {
    const result = await loadPendingBatches({
      warehouse,
      s3,
      processedBucket: config.processedBucket,
      duckdb: config.duckdb,
      log: (message, fields) => {
        if (message !== LOG_EVENTS.load.tableLoaded) return;
        const { table, incoming } = fields as { table: string; incoming: number };
        tables[table] = { rows: incoming, bytes: 0, seconds: 0 };
        progress(`${table.padEnd(20)} ${incoming.toLocaleString('en-GB').padStart(10)} rows`);
      },
    });
    const rows = Object.values(tables).reduce((sum, table) => sum + table.rows, 0);
    return { batchIds: result.loadedBatchIds, rows, tables };
  } finally {
    await warehouse.end({ timeout: 5 });
    s3.destroy();
  }
});
