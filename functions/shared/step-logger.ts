import { Logger } from '@aws-lambda-powertools/logger';

/** One structured JSON logger per step, with stable keys (step, batchId, table, rows, durationMs). */
export function stepLogger(step: 'extract' | 'transform' | 'load'): Logger {
  return new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'totesys-pipeline', persistentKeys: { step } });
}
