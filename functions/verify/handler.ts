import middy from '@middy/core';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { withDatabase } from '../shared/database';
import { createS3Client } from '../shared/s3';
import { secretsManagerReader } from '../shared/secrets';
import { readVerifyConfig, type VerifyConfig } from './config';
import { summarize, type VerificationSummary } from './report';
import { VERIFY_METRIC } from './metric';
import { verifyWarehouse } from './verify-warehouse';

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'totesys-pipeline', persistentKeys: { step: 'verify' } });
let config: VerifyConfig | undefined;
const metrics = new Metrics({ namespace: VERIFY_METRIC.namespace, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'totesys-pipeline' });
// The alarm reads the metric without dimensions (infra/alerting.ts): no default `service` dimension.
metrics.clearDefaultDimensions();

/**
 * Verify: wiring only. Compares the warehouse with ToteSys as of the last loaded batch and
 * returns the counts per table (the keys are in the log); connects per invocation, so rotated
 * credentials are picked up.
 */
export const handler = middy(async (): Promise<VerificationSummary> => {
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
  // CloudWatch embedded metric format, through the function's log: what the mismatched-rows alarm reads.
  metrics.addMetric(VERIFY_METRIC.metricName, MetricUnit.Count, result.mismatchedRows);
  metrics.publishStoredMetrics();
  if (result.mismatchedRows > 0) {
    logger.warn('warehouse differs from ToteSys', {
      batchId: result.batchId,
      mismatchedRows: result.mismatchedRows,
      tables: result.tables.filter((t) => t.missing + t.extra + t.different > 0).map((t) => ({ table: t.table, key: t.key, ...t.examples })),
    });
  }
  return summary;
}).use(injectLambdaContext(logger));
