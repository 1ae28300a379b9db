import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { readLoadConfig } from '../shared/config';
import { withDatabase } from '../shared/database';
import { createS3Client } from '../shared/s3';
import { secretsManagerReader } from '../shared/secrets';
import { stepLogger } from '../shared/step-logger';
import { loadPendingBatches, type LoadResult } from './load-batches';

const logger = stepLogger('load');
let config: ReturnType<typeof readLoadConfig> | undefined;

/** Input: Transform's output (`latestBatchId`), or `{ batchId }` when an operator re-runs from here. */
export interface LoadInput {
  readonly latestBatchId?: string | null;
  readonly batchId?: string | null;
}

/** Load step: wiring only. Connects per invocation, so rotated credentials are picked up. */
export const handler = middy(async (input: LoadInput = {}): Promise<LoadResult> => {
  config ??= readLoadConfig();
  const { s3, processedBucket, duckdb } = config;
  return withDatabase('Warehouse', config.warehouse, secretsManagerReader(), (warehouse) =>
    loadPendingBatches(
      { warehouse, s3: createS3Client(s3), processedBucket, duckdb, log: (message, fields) => logger.info(message, fields) },
      input.latestBatchId ?? input.batchId ?? null,
    ),
  );
}).use(injectLambdaContext(logger));
