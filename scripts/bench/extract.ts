/**
 * Bench step: one Extract run, wired as the Lambda handler wires it (configuration from the
 * environment, one connection), minus the middleware and logger.
 */
import { extractChangedRows } from '../../functions/extract/extract-changed-rows';
import { readExtractConfig } from '../../functions/shared/config';
import { openDatabase } from '../../functions/shared/database';
import { createS3Client } from '../../functions/shared/s3';
import { LOG_EVENTS } from '../../functions/shared/log-events';
import { stepMain, type TableVolumes } from './step-process';

export interface ExtractStepOutput {
  readonly batchId: string | null;
  readonly rows: number;
  /** Keys found deleted since the previous batch. */
  readonly deleted: number;
  /** Gzipped bytes uploaded. */
  readonly bytes: number;
  readonly tables: TableVolumes;
}

stepMain(async (_input: null, progress): Promise<ExtractStepOutput> => {
  const config = readExtractConfig();
  if (!('url' in config.totesys)) throw new Error('the bench passes TOTESYS_DATABASE_URL');
  const totesys = openDatabase(config.totesys.url, { max: 1 });
  const s3 = createS3Client(config.s3);
  const tables: TableVolumes = {};
  try {
    const result = await extractChangedRows({
      totesys,
      s3,
      ingestionBucket: config.ingestionBucket,
      log: (message, fields) => {
        if (message !== LOG_EVENTS.extract.tableExtracted) return;
        const { table, rows, bytes, durationMs } = fields as { table: string; rows: number; bytes: number; durationMs: number };
        tables[table] = { rows, bytes, seconds: durationMs / 1000 };
        progress(`${table.padEnd(15)} ${rows.toLocaleString('en-GB').padStart(10)} rows ${(bytes / 1e6).toFixed(1).padStart(8)} MB gz ${(durationMs / 1000).toFixed(1).padStart(6)}s`);
      },
    });
    const bytes = Object.values(tables).reduce((sum, table) => sum + table.bytes, 0);
    const deleted = Object.values(result.deleted).reduce((sum, n) => sum + n, 0);
    return { batchId: result.batchId, rows: result.totalRows, deleted, bytes, tables };
  } finally {
    await totesys.end({ timeout: 5 });
    s3.destroy();
  }
});
