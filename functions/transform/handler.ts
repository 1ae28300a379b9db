import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { readTransformConfig } from '../shared/config';
import { createS3Client } from '../shared/s3';
import { stepLogger } from '../shared/step-logger';
import { transformPendingBatches, type TransformResult } from './transform-batches';

const logger = stepLogger('transform');
let config: ReturnType<typeof readTransformConfig> | undefined;

/** Input: Extract's output (`latestBatchId`), or `{ batchId }` when an operator re-runs from here. */
export interface TransformInput {
  readonly latestBatchId?: string | null;
  readonly batchId?: string | null;
}

/** Transform step: wiring only. */
export const handler = middy(async (input: TransformInput = {}): Promise<TransformResult> => {
  config ??= readTransformConfig();
  return transformPendingBatches(
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
}).use(injectLambdaContext(logger));
