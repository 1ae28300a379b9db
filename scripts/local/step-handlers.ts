import type { Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { PIPELINE_FUNCTIONS, type PipelineFunctionName } from '../../functions/shared/step-contract';
import type { StepHandler } from './execution';

type LambdaHandler = (event: Record<string, unknown>, context: Context) => Promise<unknown>;

/**
 * The real Lambda handlers (the three steps and the verification), called in-process with a
 * Lambda-like context. Each is loaded on its first call, by path (`functions/<name>/handler`),
 * after the caller has put the configuration in the environment (each handler reads it once, as
 * a Lambda container does); a run that never calls one never loads it.
 */
export function inProcessHandlers(): Record<PipelineFunctionName, StepHandler> {
  const load = (name: PipelineFunctionName): LambdaHandler => {
    const file = `../../functions/${name}/handler`;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return (require(file) as { handler: LambdaHandler }).handler;
    } catch (error) {
      // The handler itself missing (not a module it imports): say which file.
      const missing = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && (error as Error).message.includes(`'${file}'`);
      if (missing) throw new Error(`There is no ${name} handler: functions/${name}/handler.ts does not exist`);
      throw error;
    }
  };
  const invoke = (name: PipelineFunctionName): StepHandler => async (payload) => load(name)(payload, lambdaContext(name));
  return Object.fromEntries(PIPELINE_FUNCTIONS.map((name) => [name, invoke(name)])) as Record<PipelineFunctionName, StepHandler>;
}

function lambdaContext(step: PipelineFunctionName): Context {
  const deadline = Date.now() + 15 * 60 * 1000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `totesys-${step}-local`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-2:000000000000:function:totesys-${step}-local`,
    memoryLimitInMB: '2048',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/totesys-${step}-local`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
