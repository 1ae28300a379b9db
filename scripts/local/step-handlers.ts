import type { Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import type { PipelineStep } from '../../state-machine/definition';
import type { StepHandler } from './execution';

type LambdaHandler = (event: Record<string, unknown>, context: Context) => Promise<unknown>;

/**
 * The steps' real Lambda handlers, called in-process with a Lambda-like context. Loaded on first
 * use, after the caller has put the steps' configuration in the environment (each handler reads
 * it once, as a Lambda container does).
 */
export function inProcessHandlers(): Record<PipelineStep, StepHandler> {
  const load = (step: PipelineStep): LambdaHandler => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = require(`../../functions/${step}/handler`) as { handler: LambdaHandler };
    return module.handler;
  };
  const invoke = (step: PipelineStep): StepHandler => async (payload) => load(step)(payload, lambdaContext(step));
  return { extract: invoke('extract'), transform: invoke('transform'), load: invoke('load') };
}

function lambdaContext(step: PipelineStep): Context {
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
