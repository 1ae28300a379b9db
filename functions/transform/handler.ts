import middy from '@middy/core';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { readTransformConfig } from '../shared/config';
import { createS3Client } from '../shared/s3';
import { stepLogger } from '../shared/step-logger';
import { QUARANTINE_METRIC } from './metric';
import { transformPendingBatches, type TransformResult } from './transform-batches';

const logger = stepLogger('transform');
let config: ReturnType<typeof readTransformConfig> | undefined;
const metrics = new Metrics({ namespace: QUARANTINE_METRIC.namespace, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'totesys-pipeline' });
// The alarm reads the metric without dimensions (infra/alerting.ts): no default `service` dimension.
metrics.clearDefaultDimensions();

/** Input: Extract's output (`latestBatchId`), or `{ batchId }` when an operator re-runs from here. */
export interface TransformInput {
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
  // CloudWatch embedded metric format, through the function's log: what the quarantined-rows alarm reads.
  metrics.addMetric(QUARANTINE_METRIC.metricName, MetricUnit.Count, result.quarantine.held);
  metrics.publishStoredMetrics();
  return result;
}).use(injectLambdaContext(logger));
