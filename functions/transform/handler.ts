import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { readTransformConfig } from '../shared/config';
import { StepMetrics } from '../shared/metrics';
import { createS3Client } from '../shared/s3';
import { observeStep, stepLogger } from '../shared/step-logger';
import type { TransformInput, TransformOutput } from '../shared/step-contract';
import { transformPendingBatches } from './transform-batches';

const logger = stepLogger('transform');
const metrics = new StepMetrics('transform');
let config: ReturnType<typeof readTransformConfig> | undefined;

/** Transform step: wiring only. */
export const handler = middy(async (input: TransformInput = {}): Promise<TransformOutput> => {
  config ??= readTransformConfig();
  const result = await transformPendingBatches(
    {
      s3: createS3Client(config.s3),
      ingestionBucket: config.ingestionBucket,
      processedBucket: config.processedBucket,
      duckdb: config.duckdb,
      rows: config.rows,
      log: (level, message, fields) => logger[level](message, fields),
    },
    input.upToBatchId ?? null,
  );
  for (const [table, rows] of Object.entries(result.rows)) metrics.rows(table, rows);
  // After every run, 0 included: what the quarantined-rows alarm reads.
  metrics.quarantinedRows(result.quarantine.held);
  return result;
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(observeStep(logger, metrics));
