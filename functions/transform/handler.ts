import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { readTransformConfig } from '../shared/config';
import { StepMetrics } from '../shared/metrics';
import { createS3Client } from '../shared/s3';
import { observeStep, stepLogger } from '../shared/step-logger';
import { transformPendingBatches, type TransformResult } from './transform-batches';

const logger = stepLogger('transform');
const metrics = new StepMetrics('transform');
let config: ReturnType<typeof readTransformConfig> | undefined;

/** Input: Extract's output (`latestBatchId`), or `{ batchId }` when an operator re-runs from here; `executionId` from the state machine. */
export interface TransformInput {
  readonly executionId?: string;
  readonly latestBatchId?: string | null;
  readonly batchId?: string | null;
}

/** Transform step: wiring only. */
export const handler = middy(async (input: TransformInput = {}): Promise<TransformResult> => {
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
    input.latestBatchId ?? input.batchId ?? null,
  );
  for (const [table, rows] of Object.entries(result.rows)) metrics.rows(table, rows);
  // After every run, 0 included: what the quarantined-rows alarm reads.
  metrics.quarantinedRows(result.quarantine.held);
  return result;
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(observeStep(logger, metrics));
