import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  StartExecutionCommand,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { STEP_STATE, VERIFY_STATE } from './definition';
import {
  PIPELINE_STEPS,
  rerunInput,
  UP_TO_BATCH_FROM,
  OUTPUT_PATH,
  VERIFY_INPUT,
  type PipelineFunctionName,
  type RerunInput,
} from '../functions/shared/step-contract';

/**
 * Re-running a failed execution from the step that failed. Console "Redrive" cannot do it: it
 * restarts at the Fail state and never re-runs the failed Lambda. A new execution with the input
 * `{"resumeFrom": "<step>", "upToBatchId": "…"}` does, through the definition's RouteByResumeFrom.
 * A verification that failed or stopped is re-run as a verification: `{"verify": true}`. The
 * input is the step contract's `rerunInput` (functions/shared/step-contract.ts).
 */
const FAILURE_STATES: Readonly<Record<string, PipelineFunctionName | null>> = {
  GuardFailed: null,
  OverlapFailed: null,
  ...Object.fromEntries(PIPELINE_STEPS.map((step) => [`${STEP_STATE[step]}Failed`, step])),
  [`${VERIFY_STATE}Failed`]: 'verify',
};

/**
 * The re-run input of a failed execution, from its history: the `<Step>Failed` state's output
 * holds it (the same input the alert gave). An execution that stopped without reaching it (timed
 * out or aborted mid-step) resumes at the last step it entered, with the batch that step was
 * given; one that entered Verify (a verification, whether it failed, stopped or found
 * differences) verifies again.
 */
export function rerunInputFromHistory(events: readonly HistoryEvent[]): RerunInput {
  const newestFirst = [...events].sort((a, b) => Number(b.id ?? 0) - Number(a.id ?? 0));
  for (const event of newestFirst) {
    const exited = event.stateExitedEventDetails;
    if (exited?.name && exited.name in FAILURE_STATES && exited.output) {
      const alert = (JSON.parse(exited.output) as { alert?: { rerunInput?: RerunInput } }).alert;
      if (alert?.rerunInput) return alert.rerunInput;
    }
  }
  for (const event of newestFirst) {
    const entered = event.stateEnteredEventDetails;
    if (entered?.name === VERIFY_STATE) return { ...VERIFY_INPUT };
    const step = PIPELINE_STEPS.find((s) => STEP_STATE[s] === entered?.name);
    if (!step || !entered?.input) continue;
    if (step === 'extract') return rerunInput(step);
    // The step's input, as its Task payload read it from the execution's state (definition.ts).
    const state = JSON.parse(entered.input) as Record<string, { upToBatchId?: string | null } | undefined>;
    return rerunInput(step, { upToBatchId: state[OUTPUT_PATH[UP_TO_BATCH_FROM[step]]]?.upToBatchId });
  }
  return {};
}

export interface RerunResult {
  readonly input: RerunInput;
  readonly executionArn: string;
}

/** Starts the re-run of a failed, timed-out or aborted execution from its failed step. */
export async function rerunExecution(sfn: SFNClient, executionArn: string, now: Date = new Date()): Promise<RerunResult> {
  const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  if (execution.status === 'RUNNING' || execution.status === 'SUCCEEDED' || execution.status === 'PENDING_REDRIVE') {
    throw new Error(`Execution ${executionArn} is ${execution.status}: only a failed, timed-out or aborted execution is re-run`);
  }
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000, includeExecutionData: true }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const input = rerunInputFromHistory(events);
  const started = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn: execution.stateMachineArn,
      name: `rerun-${now.toISOString().replace(/[^0-9]/g, '').slice(0, 14)}-${(execution.name ?? 'execution').slice(0, 40)}`,
      input: JSON.stringify(input),
    }),
  );
  return { input, executionArn: started.executionArn! };
}
