import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { readExtractConfig } from '../shared/config';
import { withDatabase } from '../shared/database';
import { createS3Client } from '../shared/s3';
import { secretsManagerReader } from '../shared/secrets';
import { stepLogger } from '../shared/step-logger';
import { extractChangedRows, type ExtractResult } from './extract-changed-rows';

const logger = stepLogger('extract');
let config: ReturnType<typeof readExtractConfig> | undefined;

/** Extract step: wiring only. Connects per invocation, so rotated credentials are picked up. */
export const handler = middy(async (): Promise<ExtractResult> => {
  config ??= readExtractConfig();
  const { s3, ingestionBucket } = config;
  return withDatabase('ToteSys', config.totesys, secretsManagerReader(), (totesys) =>
    extractChangedRows({ totesys, s3: createS3Client(s3), ingestionBucket, log: (message, fields) => logger.info(message, fields) }),
  );
}).use(injectLambdaContext(logger));
