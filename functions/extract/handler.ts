import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { readExtractConfig } from '../shared/config';
import { withDatabase } from '../shared/database';
import { StepMetrics } from '../shared/metrics';
import { createS3Client } from '../shared/s3';
import { secretsManagerReader } from '../shared/secrets';
import { observeStep, stepLogger } from '../shared/step-logger';
import type { ExtractInput, ExtractOutput } from '../shared/step-contract';
import { extractChangedRows } from './extract-changed-rows';

const logger = stepLogger('extract');
const metrics = new StepMetrics('extract');
let config: ReturnType<typeof readExtractConfig> | undefined;

/** Extract step: wiring only. Connects per invocation, so rotated credentials are picked up. */
export const handler = middy(async (_input: ExtractInput = {}): Promise<ExtractOutput> => {
  config ??= readExtractConfig();
  const { s3, ingestionBucket } = config;
  const result = await withDatabase('ToteSys', config.totesys, secretsManagerReader(), (totesys) =>
    extractChangedRows({ totesys, s3: createS3Client(s3), ingestionBucket, log: (message, fields) => logger.info(message, fields) }),
  );
  // What the batch committed (nothing when ToteSys had no changes).
  for (const [table, rows] of Object.entries(result.rows)) metrics.rows(table, rows);
  for (const [table, keys] of Object.entries(result.deleted)) metrics.deletedRows(table, keys);
  if (result.batchId) metrics.batchRows(result.totalRows);
  return result;
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(observeStep(logger, metrics));
