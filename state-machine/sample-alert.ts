// aws-local-stepfunctions needs Promise.withResolvers (Node 22+): the same shim as the local runner's.
import './promise-with-resolvers';
import { StateMachine } from 'aws-local-stepfunctions';
import { withConnectionErrors } from '../functions/shared/database';
import { buildPipelineDefinition, TASK_STATE } from './definition';

/**
 * The failure alert an operator receives, for the README: the real definition's NotifyFailure
 * message, produced by running it (aws-local-stepfunctions) with the names a deployment has
 * (state machine totesys-pipeline-dev) and a Load whose warehouse cannot be reached, its error
 * translated by the real code (functions/shared/database.ts). Only the driver's error is made up.
 */
const ACCOUNT = '123456789012';
const REGION = 'eu-west-2';
const PREFIX = 'totesys-pipeline-dev';
const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
export const SAMPLE_EXECUTION_ARN = arn('states', `execution:${PREFIX}:3f1c2a9e-5b7d-4e21-9c0a-8d6f4b2e1a07`);
const SAMPLE_WAREHOUSE_URL = 'postgres://pipeline_load@totesys-warehouse.c1a2b3c4d5e6.eu-west-2.rds.amazonaws.com:5432/warehouse';

export interface SampleAlert {
  readonly subject: string;
  readonly message: string;
}

export async function sampleFailureAlert(): Promise<SampleAlert> {
  const definition = buildPipelineDefinition({
    extractFunctionArn: arn('lambda', `function:${PREFIX}-extract`),
    transformFunctionArn: arn('lambda', `function:${PREFIX}-transform`),
    loadFunctionArn: arn('lambda', `function:${PREFIX}-load`),
    verifyFunctionArn: arn('lambda', `function:${PREFIX}-verify`),
    alertTopicArn: arn('sns', `${PREFIX}-alerts`),
  });
  const sent: SampleAlert[] = [];
  const unreachable = () =>
    withConnectionErrors('Warehouse', SAMPLE_WAREHOUSE_URL, async () => {
      throw Object.assign(new Error('connect ETIMEDOUT 10.0.12.34:5432'), { code: 'ETIMEDOUT' });
    });
  const machine = new StateMachine(definition as never);
  const execution = machine.run({ scheduled: true } as never, {
    overrides: {
      taskResourceLocalHandlers: {
        CheckForRunningExecutions: async () => ({ Executions: [] }),
        [TASK_STATE.extract]: async () => ({ Payload: { batchId: '0000000042', upToBatchId: '0000000042', totalRows: 1280, rows: {} } }),
        [TASK_STATE.transform]: async () => ({
          Payload: { upToBatchId: '0000000042', transformedBatchIds: ['0000000042'], rows: {}, quarantine: { held: 0, message: '' } },
        }),
        [TASK_STATE.load]: unreachable,
        NotifyFailure: async (parameters: { Subject: string; Message: string }) => {
          sent.push({ subject: parameters.Subject, message: parameters.Message });
          return { MessageId: 'sample' };
        },
      } as never,
      retryIntervalOverrides: { [TASK_STATE.load]: 0 },
    },
    context: {
      Execution: { Id: SAMPLE_EXECUTION_ARN, Name: SAMPLE_EXECUTION_ARN.split(':').at(-1) },
      StateMachine: { Id: arn('states', `stateMachine:${PREFIX}`), Name: PREFIX },
    } as never,
  });
  await execution.result.catch(() => {});
  if (sent.length !== 1) throw new Error(`The sample run sent ${sent.length} alerts, not one`);
  return sent[0]!;
}

/** The alert as the README shows it: subject, then the one-paragraph body wrapped at `width` (email clients wrap it too). */
export function formatAlert(alert: SampleAlert, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const word of alert.message.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return `Subject: ${alert.subject}\n\n${lines.join('\n')}`;
}
