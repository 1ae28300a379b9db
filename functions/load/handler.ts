import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { readLoadConfig } from '../shared/config';
import { withDatabase } from '../shared/database';
import { StepMetrics } from '../shared/metrics';
import { createS3Client } from '../shared/s3';
import { secretsManagerReader } from '../shared/secrets';
import { observeStep, stepLogger } from '../shared/step-logger';
import type { LoadInput, LoadOutput } from '../shared/step-contract';
import { loadPendingBatches } from './load-batches';

const logger = stepLogger('load');
const metrics = new StepMetrics('load');
let config: ReturnType<typeof readLoadConfig> | undefined;

/** Load step: wiring only. Connects per invocation, so rotated credentials are picked up. */
export const handler = middy(async (input: LoadInput = {}): Promise<LoadOutput> => {
  config ??= readLoadConfig();
  const { s3, processedBucket, duckdb } = config;
  const log = (message: string, fields: Record<string, unknown>) => {
    logger.info(message, fields);
    // Each batch loaded logs its freshness (null for a batch without a datable change): by the field, not the message.
    if (typeof fields.changeLagSeconds === 'number' && fields.changeLagSeconds >= 0) metrics.changeLag(fields.changeLagSeconds);
  };
  const result = await withDatabase('Warehouse', config.warehouse, secretsManagerReader(), (warehouse) =>
    loadPendingBatches({ warehouse, s3: createS3Client(s3), processedBucket, duckdb, log }, input.upToBatchId ?? null),
  );
  for (const [table, rows] of Object.entries(result.rows)) metrics.rows(table, rows);
  return result;
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(observeStep(logger, metrics));
