import { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import { EXECUTION_ID_KEY, StepMetrics } from './metrics';
import type { PipelineFunctionName } from './step-contract';

/** One structured JSON logger per step (and the verification), with stable keys (step, batchId, table, rows, durationMs). */
export function stepLogger(step: PipelineFunctionName): Logger {
  return new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'totesys-pipeline', persistentKeys: { step } });
}

/** The Step Functions execution id the state machine puts in every payload (`$$.Execution.Id`), if any. */
export function executionIdOf(event: unknown): string | undefined {
  const value = (event as { executionId?: unknown } | null | undefined)?.executionId;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The middleware every handler uses after Powertools' `injectLambdaContext(logger, { resetKeys: true })`:
 * before the handler, the execution id goes into every log line (a temporary key, which
 * `resetKeys` removes after the invocation) and into the metrics' EMF metadata; after it, the
 * invocation's metrics are published, with its duration when it succeeded (a failure publishes
 * what was gathered until then, and no duration).
 */
export function observeStep(logger: Logger, metrics: StepMetrics): MiddlewareObj {
  let started = 0;
  return {
    before: (request) => {
      started = performance.now();
      const executionId = executionIdOf(request.event);
      if (executionId) logger.appendKeys({ [EXECUTION_ID_KEY]: executionId });
      metrics.begin(executionId);
    },
    after: () => {
      metrics.stepDuration(performance.now() - started);
      metrics.publish();
    },
    onError: () => {
      metrics.publish();
    },
  };
}
