/**
 * Bench step: one verification of the warehouse against ToteSys (npm run verify's work), wired
 * as the Lambda handler wires it (configuration from the environment, one connection each).
 */
import { readVerifyConfig } from '../../functions/verify/config';
import { verifyWarehouse } from '../../functions/verify/verify-warehouse';
import { openDatabase } from '../../functions/shared/database';
import { createS3Client } from '../../functions/shared/s3';
import { stepMain, type TableVolumes } from './step-process';

export interface VerifyStepOutput {
  /** Rows compared, over every table. */
  readonly rows: number;
  readonly mismatchedRows: number;
  readonly tables: TableVolumes;
}

stepMain(async (): Promise<VerifyStepOutput> => {
  const config = readVerifyConfig();
  if (!('url' in config.totesys) || !('url' in config.warehouse)) throw new Error('the bench passes both database URLs');
  const totesys = openDatabase(config.totesys.url, { max: 1 });
  const warehouse = openDatabase(config.warehouse.url, { max: 1 });
  const s3 = createS3Client(config.s3);
  try {
    const result = await verifyWarehouse({ totesys, warehouse, s3, ingestionBucket: config.ingestionBucket });
    const tables: TableVolumes = Object.fromEntries(result.tables.map((table) => [table.table, { rows: table.compared, bytes: 0, seconds: 0 }]));
    return { rows: result.tables.reduce((sum, table) => sum + table.compared, 0), mismatchedRows: result.mismatchedRows, tables };
  } finally {
    await totesys.end({ timeout: 5 });
    await warehouse.end({ timeout: 5 });
    s3.destroy();
  }
});
