import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { readLoadConfig } from '../shared/config';
import { openDatabase, resolveDatabaseUrl, withConnectionErrors } from '../shared/database';
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
  const url = await resolveDatabaseUrl(config.warehouse, secretsManagerReader());
  const warehouse = openDatabase(url, { max: 1 });
  try {
    return await withConnectionErrors('Warehouse', url, () =>
      loadPendingBatches(
        {
          warehouse,
          s3: createS3Client(config!.s3),
          processedBucket: config!.processedBucket,
          duckdb: config!.duckdb,
          log: (message, fields) => logger.info(message, fields),
        },
        input.latestBatchId ?? input.batchId ?? null,
      ),
    );
  } finally {
    await warehouse.end({ timeout: 5 });
  }
}).use(injectLambdaContext(logger));
