/**
 * Bench step: Transform of every pending ingestion batch, wired as the Lambda handler wires it
 * (configuration from the environment), minus the middleware and logger.
 */
import { readTransformConfig } from '../../functions/shared/config';
import { createS3Client } from '../../functions/shared/s3';
import { transformPendingBatches } from '../../functions/transform/transform-batches';
import { LOG_EVENTS } from '../../functions/shared/log-events';
import { stepMain, type TableVolumes } from './step-process';

export interface TransformStepOutput {
  readonly batchIds: readonly string[];
  /** Source rows read (the rows/s of this step are input rows). */
  readonly rows: number;
  /** Warehouse rows written, per table. */
  readonly tables: TableVolumes;
}

stepMain(async (input: { sourceRows: number }, progress): Promise<TransformStepOutput> => {
  const config = readTransformConfig();
  const s3 = createS3Client(config.s3);
  const tables: TableVolumes = {};
  try {
    const result = await transformPendingBatches({
      s3,
      ingestionBucket: config.ingestionBucket,
      processedBucket: config.processedBucket,
      duckdb: config.duckdb,
      log: (_level, message, fields) => {
        if (message !== LOG_EVENTS.transform.tableTransformed) return;
        const { table, rows } = fields as { table: string; rows: number };
        tables[table] = { rows, bytes: 0, seconds: 0 };
        progress(`${table.padEnd(20)} ${rows.toLocaleString('en-GB').padStart(10)} rows`);
      },
    });
    return { batchIds: result.transformedBatchIds, rows: input.sourceRows, tables };
  } finally {
    s3.destroy();
  }
});
