import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { withDatabase } from '../shared/database';
import { StepMetrics } from '../shared/metrics';
import { createS3Client } from '../shared/s3';
import { secretsManagerReader } from '../shared/secrets';
import { LOG_EVENTS } from '../shared/log-events';
import { observeStep, stepLogger } from '../shared/step-logger';
import { readVerifyConfig, type VerifyConfig } from './config';
import type { VerifyInput, VerifyOutput } from '../shared/step-contract';
import { summarize } from './report';
import { verifyWarehouse } from './verify-warehouse';

const logger = stepLogger('verify');
const metrics = new StepMetrics('verify');
let config: VerifyConfig | undefined;

/**
 * Verify: wiring only. Compares the warehouse with ToteSys as of the last loaded batch and
 * returns the counts per table (the keys are in the log); connects per invocation, so rotated
 * credentials are picked up.
 */
export const handler = middy(async (_input: VerifyInput = {}): Promise<VerifyOutput> => {
  config ??= readVerifyConfig();
  const { s3, ingestionBucket } = config;
  const readSecret = secretsManagerReader();
  const warehouseCredentials = config.warehouse;
  const result = await withDatabase('ToteSys', config.totesys, readSecret, (totesys) =>
    withDatabase('Warehouse', warehouseCredentials, readSecret, (warehouse) =>
      verifyWarehouse({ totesys, warehouse, s3: createS3Client(s3), ingestionBucket, log: (message, fields) => logger.info(message, fields) }),
    ),
  );
  const summary = summarize(result);
  // After every verification, 0 included: what the mismatched-rows alarm reads.
  metrics.mismatchedRows(result.mismatchedRows);
  if (result.mismatchedRows > 0) {
    logger.warn(LOG_EVENTS.verify.warehouseDiffers, {
      batchId: result.batchId,
      mismatchedRows: result.mismatchedRows,
      tables: result.tables.filter((t) => t.missing + t.extra + t.different > 0).map((t) => ({ table: t.table, key: t.key, ...t.examples })),
    });
  }
  return summary;
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(observeStep(logger, metrics));
