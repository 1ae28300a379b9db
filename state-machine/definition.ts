import { RETRYABLE_ERROR_NAMES } from '../functions/shared/errors';
import {
  OUTPUT_PATH,
  rerunInputParameters,
  SCHEDULED_INPUT,
  UP_TO_BATCH_FROM,
  upToBatchPath,
  VERIFY_INPUT,
  type PipelineFunctionName,
  type PipelineStep,
} from '../functions/shared/step-contract';

/**
 * The pipeline's Amazon States Language definition, built from its parameters. The CDKTF stack
 * deploys exactly this, and `npm start` runs exactly this locally.
 *
 *   RouteByVerify ─({"verify": true})→ Verify → CheckVerification ─(mismatchedRows > 0)→ WarehouseDiffers
 *        │                                          └→ WarehouseMatches
 *        └→ StartOverlapGuard (or StartScheduledOverlapGuard, input {"scheduled": true})
 *             → CheckForRunningExecutions → FindEarlierExecutions → CountEarlierExecutions → WaitIfAnEarlierRunIsInProgress
 *                 ─(an earlier one runs)→ MayWaitLonger ─(yes)→ WaitForEarlierExecution → CountWait → CheckForRunningExecutions
 *                                                       └(no)→ scheduled: SkipRun | otherwise: DescribeOverlap → OverlapFailed
 *             └→ RouteByResumeFrom → Extract → Transform → Load → CheckQuarantine ─(rows held)→ NotifyQuarantine (SNS) → Done
 *                  (resumeFrom: "transform" | "load" jumps straight to that step)
 *   each Task: Retry on transient errors → Catch → <Step>Failed → NotifyFailure (SNS) → PipelineFailed
 *
 * The overlap guard: a pipeline execution defers to every execution of this state machine that
 * is RUNNING and started before it (start time, then ARN, so two never defer to each other; itself
 * excluded, listed or not: ListExecutions is eventually consistent). A scheduled run waits one
 * poll (a run that has just ended may still be listed) and then ends SUCCEEDED as skipped: the
 * next scheduled run carries the changes. Any other run (an operator's start or re-run) waits up
 * to `overlap.maxWaitSeconds`, then fails with AnotherRunInProgress, saying it did nothing: it
 * never ends SUCCEEDED without doing its work.
 *
 * A verification only reads (the warehouse, ToteSys, the ingestion bucket), so it skips the
 * overlap guard: it runs whether or not a pipeline run is in progress. A warehouse that differs
 * ends in WarehouseDiffers without an SNS publish: the verify function's MismatchedRows metric
 * has an alarm of its own that emails the alert topic.
 */
export interface PipelineDefinitionParameters {
  readonly extractFunctionArn: string;
  readonly transformFunctionArn: string;
  readonly loadFunctionArn: string;
  readonly verifyFunctionArn: string;
  readonly alertTopicArn: string;
  /** Each Task's timeout: the Lambda's own timeout, plus a little. */
  readonly timeoutSeconds?: Partial<Record<PipelineFunctionName, number>>;
  readonly retry?: Partial<RetryPolicy>;
  readonly overlap?: Partial<OverlapPolicy>;
}

/** How long a pipeline execution waits for an earlier one still running. */
export interface OverlapPolicy {
  /** Between two listings of the running executions. */
  readonly pollSeconds: number;
  /** How long a run that is not scheduled waits in all before it fails. */
  readonly maxWaitSeconds: number;
}

export const DEFAULT_OVERLAP: OverlapPolicy = { pollSeconds: 30, maxWaitSeconds: 1800 };

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly intervalSeconds: number;
  readonly backoffRate: number;
  readonly maxDelaySeconds: number;
}

const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, intervalSeconds: 5, backoffRate: 2, maxDelaySeconds: 60 };

/** Errors of the Lambda service itself that AWS recommends retrying, and our own transient ones. */
export const TRANSIENT_ERRORS: readonly string[] = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  ...RETRYABLE_ERROR_NAMES,
];

/** The state names an operator sees in the console, per step. */
export const STEP_STATE: Readonly<Record<PipelineStep, string>> = { extract: 'Extract', transform: 'Transform', load: 'Load' };

/** The Task state that sends the alert of a run that succeeded with rows in quarantine. */
export const NOTIFY_QUARANTINE_STATE = 'NotifyQuarantine';

/** The Task state that runs the verify function, and what its input and failure are called. */
export const VERIFY_STATE = 'Verify';
export const TASK_STATE: Readonly<Record<PipelineFunctionName, string>> = { ...STEP_STATE, verify: VERIFY_STATE };
/** The error a run that is not scheduled fails with when an earlier run outlasts its wait. */
export const OVERLAP_ERROR = 'AnotherRunInProgress';
/** The Wait state of the overlap guard (local runs and tests shorten it). */
export const OVERLAP_WAIT_STATE = 'WaitForEarlierExecution';
/** The error a verification that found differences fails the execution with. */
export const WAREHOUSE_MISMATCH_ERROR = 'WarehouseMismatch';

type State = Record<string, unknown>;

/** What the overlap guard's Map gives for a listed execution that did not start before this one (an ARN otherwise). */
const NOT_EARLIER = 'not-earlier';

export interface StateMachineDefinition {
  readonly Comment: string;
  readonly StartAt: string;
  readonly States: Readonly<Record<string, State>>;
}

type ResumableStep = keyof typeof UP_TO_BATCH_FROM;

/** A function's Task payload: the step contract's input (functions/shared/step-contract.ts), from the execution's state. */
function payloadOf(name: PipelineFunctionName): State {
  const executionId = { 'executionId.$': '$$.Execution.Id' };
  return name === 'transform' || name === 'load' ? { ...executionId, 'upToBatchId.$': upToBatchPath(name) } : executionId;
}

export function buildPipelineDefinition(parameters: PipelineDefinitionParameters): StateMachineDefinition {
  const retry = { ...DEFAULT_RETRY, ...parameters.retry };
  const overlap = { ...DEFAULT_OVERLAP, ...parameters.overlap };
  const timeout = { extract: 900, transform: 900, load: 900, verify: 900, ...parameters.timeoutSeconds };
  const retrier = [
    {
      ErrorEquals: [...TRANSIENT_ERRORS],
      IntervalSeconds: retry.intervalSeconds,
      BackoffRate: retry.backoffRate,
      MaxAttempts: retry.maxAttempts,
      MaxDelaySeconds: retry.maxDelaySeconds,
      JitterStrategy: 'FULL',
    },
  ];
  /** A function's Task: its payload is the step contract's input, its output kept at `$.<OUTPUT_PATH>`. */
  const step = (name: PipelineFunctionName, functionArn: string, resultSelector: State, next: string): State => ({
    Type: 'Task',
    Comment: `Runs the ${name} Lambda. Retries transient errors; anything else is reported and fails the run.`,
    Resource: 'arn:aws:states:::lambda:invoke',
    Parameters: { FunctionName: functionArn, Payload: payloadOf(name) },
    ResultSelector: resultSelector,
    ResultPath: `$.${OUTPUT_PATH[name]}`,
    TimeoutSeconds: timeout[name],
    Retry: retrier,
    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: `${TASK_STATE[name]}Failed` }],
    Next: next,
  });
  /** `rerun`: `{ rerunInput }`, or `{ 'rerunInput.$': path }`. */
  const failed = (stepName: string, rerun: State): State => ({
    Type: 'Pass',
    Comment: `Describes the ${stepName} failure for the alert, with the input that re-runs the pipeline from this step.`,
    Parameters: { step: stepName, 'error.$': '$.failure.Error', 'cause.$': '$.failure.Cause', ...rerun },
    ResultPath: '$.alert',
    Next: 'NotifyFailure',
  });
  /** An operator's re-run from `resumed`: stands in for the output of the step before it, whose `upToBatchId` it is given. */
  const resumeAt = (resumed: ResumableStep, upTo: 'given' | 'newest'): State => ({
    Type: 'Pass',
    Comment: `An operator's re-run: starts at ${STEP_STATE[resumed]}, ${upTo === 'given' ? 'up to the given batch' : 'up to the newest batch'}.`,
    ...(upTo === 'given' ? { Parameters: { 'upToBatchId.$': '$.upToBatchId' } } : { Result: { upToBatchId: null } }),
    ResultPath: `$.${OUTPUT_PATH[UP_TO_BATCH_FROM[resumed]]}`,
    Next: STEP_STATE[resumed],
  });
  const resumeFrom = (value: string) => ({ And: [{ Variable: '$.resumeFrom', IsPresent: true }, { Variable: '$.resumeFrom', StringEquals: value }] });
  const withBatch = (value: string) => ({ And: [...resumeFrom(value).And, { Variable: '$.upToBatchId', IsPresent: true }] });

  return {
    Comment:
      'ToteSys ETL: Extract (ToteSys -> ingestion bucket), Transform (DuckDB -> processed bucket), Load (-> warehouse). Input {"verify": true} instead compares the warehouse with ToteSys.',
    StartAt: 'RouteByVerify',
    States: {
      RouteByVerify: {
        Type: 'Choice',
        Comment: 'Input {"verify": true} runs the verification only: it reads and never writes, so it skips the overlap guard.',
        Choices: [{ And: [{ Variable: '$.verify', IsPresent: true }, { Variable: '$.verify', BooleanEquals: true }], Next: VERIFY_STATE }],
        Default: 'RouteBySchedule',
      },
      [VERIFY_STATE]: step(
        'verify',
        parameters.verifyFunctionArn,
        { 'batchId.$': '$.Payload.batchId', 'mismatchedRows.$': '$.Payload.mismatchedRows', 'tables.$': '$.Payload.tables' },
        'CheckVerification',
      ),
      CheckVerification: {
        Type: 'Choice',
        Comment: 'Any mismatched row fails the execution; the MismatchedRows alarm sends the email.',
        Choices: [{ Variable: '$.verification.mismatchedRows', NumericGreaterThan: 0, Next: 'DescribeMismatch' }],
        Default: 'WarehouseMatches',
      },
      WarehouseMatches: {
        Type: 'Succeed',
        Comment: 'The warehouse equals ToteSys as of the last loaded batch.',
      },
      DescribeMismatch: {
        Type: 'Pass',
        Comment: 'The cause WarehouseDiffers fails with: a Fail state cannot format one itself.',
        Parameters: {
          'cause.$':
            "States.Format('The warehouse differs from ToteSys in {} row(s), compared as of batch {}, the last one loaded. The output of the Verify step in this execution gives the counts per table; to see the rows, run npm run verify against the same databases. Nothing was changed.', $.verification.mismatchedRows, $.verification.batchId)",
        },
        ResultPath: '$.mismatch',
        Next: 'WarehouseDiffers',
      },
      WarehouseDiffers: {
        Type: 'Fail',
        Comment: 'Fails the verification execution (status FAILED). No SNS publish here: the MismatchedRows alarm emails the alert topic.',
        Error: WAREHOUSE_MISMATCH_ERROR,
        CausePath: '$.mismatch.cause',
      },
      RouteBySchedule: {
        Type: 'Choice',
        Comment: 'A scheduled run ({"scheduled": true}) is skipped when an earlier run is still going; any other run waits for it.',
        Choices: [{ And: [{ Variable: '$.scheduled', IsPresent: true }, { Variable: '$.scheduled', BooleanEquals: true }], Next: 'StartScheduledOverlapGuard' }],
        Default: 'StartOverlapGuard',
      },
      StartScheduledOverlapGuard: {
        Type: 'Pass',
        Comment: 'Waits one poll for an earlier run (it may have just ended), then skips; a failure re-runs as a plain run.',
        Result: { waitedSeconds: 0, mayWaitSeconds: overlap.pollSeconds, whenStillRunning: 'skip', rerunInput: {} },
        ResultPath: '$.guard',
        Next: 'CheckForRunningExecutions',
      },
      StartOverlapGuard: {
        Type: 'Pass',
        Comment: `Waits up to ${overlap.maxWaitSeconds} s for an earlier run, then fails; a failure re-runs with this input.`,
        Parameters: { waitedSeconds: 0, mayWaitSeconds: overlap.maxWaitSeconds, whenStillRunning: 'fail', 'rerunInput.$': '$$.Execution.Input' },
        ResultPath: '$.guard',
        Next: 'CheckForRunningExecutions',
      },
      CheckForRunningExecutions: {
        Type: 'Task',
        Comment: 'Lists the running executions of this state machine (newest first; eventually consistent: this one may be missing, one just ended may be there).',
        Resource: 'arn:aws:states:::aws-sdk:sfn:listExecutions',
        Parameters: { 'StateMachineArn.$': '$$.StateMachine.Id', StatusFilter: 'RUNNING', MaxResults: 100 },
        ResultSelector: { 'executions.$': '$.Executions' },
        ResultPath: '$.guard.listing',
        Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 2, BackoffRate: 2, MaxAttempts: 3, JitterStrategy: 'FULL' }],
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'GuardFailed' }],
        Next: 'FindEarlierExecutions',
      },
      FindEarlierExecutions: {
        Type: 'Map',
        Comment: 'Keeps the listed executions that started before this one (by start time, then ARN); this one is never among them.',
        ItemsPath: '$.guard.listing.executions',
        ItemSelector: {
          'executionArn.$': '$$.Map.Item.Value.ExecutionArn',
          'startDate.$': '$$.Map.Item.Value.StartDate',
          'self.$': '$$.Execution.Id',
          'selfStartDate.$': '$$.Execution.StartTime',
        },
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: 'StartedEarlier',
          States: {
            StartedEarlier: {
              Type: 'Choice',
              Choices: [
                { Variable: '$.executionArn', StringEqualsPath: '$.self', Next: 'NotEarlier' },
                { Variable: '$.startDate', TimestampLessThanPath: '$.selfStartDate', Next: 'Earlier' },
                {
                  And: [
                    { Variable: '$.startDate', TimestampEqualsPath: '$.selfStartDate' },
                    { Variable: '$.executionArn', StringLessThanPath: '$.self' },
                  ],
                  Next: 'Earlier',
                },
              ],
              Default: 'NotEarlier',
            },
            Earlier: { Type: 'Pass', InputPath: '$.executionArn', End: true },
            NotEarlier: { Type: 'Pass', Result: NOT_EARLIER, End: true },
          },
        },
        // [NOT_EARLIER, arn, …] without repeats. Newest first in, so the last is the oldest earlier
        // execution (when there is one).
        ResultSelector: { 'earlier.$': 'States.ArrayUnique($)' },
        ResultPath: '$.guard.listing',
        Next: 'CountEarlierExecutions',
      },
      CountEarlierExecutions: {
        Type: 'Pass',
        Parameters: { 'earlier.$': '$.guard.listing.earlier', 'distinct.$': 'States.ArrayLength($.guard.listing.earlier)' },
        ResultPath: '$.guard.listing',
        Next: 'WaitIfAnEarlierRunIsInProgress',
      },
      WaitIfAnEarlierRunIsInProgress: {
        Type: 'Choice',
        Comment: `An earlier execution runs when the distinct values hold anything but "${NOT_EARLIER}".`,
        Choices: [
          { Variable: '$.guard.listing.distinct', NumericGreaterThan: 1, Next: 'MayWaitLonger' },
          {
            And: [{ Variable: '$.guard.listing.distinct', NumericEquals: 1 }, { Not: { Variable: '$.guard.listing.earlier[0]', StringEquals: NOT_EARLIER } }],
            Next: 'MayWaitLonger',
          },
        ],
        Default: 'RouteByResumeFrom',
      },
      MayWaitLonger: {
        Type: 'Choice',
        Choices: [
          { Variable: '$.guard.waitedSeconds', NumericLessThanPath: '$.guard.mayWaitSeconds', Next: OVERLAP_WAIT_STATE },
          { Variable: '$.guard.whenStillRunning', StringEquals: 'skip', Next: 'SkipRun' },
        ],
        Default: 'DescribeOverlap',
      },
      [OVERLAP_WAIT_STATE]: {
        Type: 'Wait',
        Seconds: overlap.pollSeconds,
        Next: 'CountWait',
      },
      CountWait: {
        Type: 'Pass',
        Parameters: {
          'waitedSeconds.$': `States.MathAdd($.guard.waitedSeconds, ${overlap.pollSeconds})`,
          'mayWaitSeconds.$': '$.guard.mayWaitSeconds',
          'whenStillRunning.$': '$.guard.whenStillRunning',
          'rerunInput.$': '$.guard.rerunInput',
        },
        ResultPath: '$.guard',
        Next: 'CheckForRunningExecutions',
      },
      SkipRun: {
        Type: 'Pass',
        Comment: 'A scheduled run that finds an earlier run still going: ends without touching data; the next scheduled run carries the changes.',
        Parameters: { skipped: 'another run in progress', 'runningExecution.$': 'States.ArrayGetItem($.guard.listing.earlier, States.MathAdd($.guard.listing.distinct, -1))' },
        End: true,
      },
      DescribeOverlap: {
        Type: 'Pass',
        Comment: 'A run that is not scheduled never ends SUCCEEDED without its work: it fails, saying so.',
        Parameters: {
          Error: OVERLAP_ERROR,
          'Cause.$': `States.Format('Execution {} of this state machine was still running after this one had waited {} s for it, so this one did nothing (no step ran). Start this one again, with the same input, once that one has ended.', States.ArrayGetItem($.guard.listing.earlier, States.MathAdd($.guard.listing.distinct, -1)), $.guard.waitedSeconds)`,
        },
        ResultPath: '$.failure',
        Next: 'OverlapFailed',
      },
      RouteByResumeFrom: {
        Type: 'Choice',
        Comment: 'Input {"resumeFrom": "transform" | "load", "upToBatchId": "…"} re-runs the pipeline from that step.',
        Choices: [
          { ...withBatch('transform'), Next: 'ResumeTransformAtBatch' },
          { ...resumeFrom('transform'), Next: 'ResumeTransformAtLatest' },
          { ...withBatch('load'), Next: 'ResumeLoadAtBatch' },
          { ...resumeFrom('load'), Next: 'ResumeLoadAtLatest' },
          { ...resumeFrom('extract'), Next: 'Extract' },
          { Variable: '$.resumeFrom', IsPresent: true, Next: 'InvalidInput' },
        ],
        Default: 'Extract',
      },
      ResumeTransformAtBatch: resumeAt('transform', 'given'),
      ResumeTransformAtLatest: resumeAt('transform', 'newest'),
      ResumeLoadAtBatch: resumeAt('load', 'given'),
      ResumeLoadAtLatest: resumeAt('load', 'newest'),
      InvalidInput: {
        Type: 'Fail',
        Error: 'InvalidInput',
        Cause: 'resumeFrom must be "extract", "transform" or "load"',
      },
      Extract: step(
        'extract',
        parameters.extractFunctionArn,
        { 'batchId.$': '$.Payload.batchId', 'upToBatchId.$': '$.Payload.upToBatchId', 'totalRows.$': '$.Payload.totalRows', 'rows.$': '$.Payload.rows' },
        'Transform',
      ),
      Transform: step(
        'transform',
        parameters.transformFunctionArn,
        {
          'upToBatchId.$': '$.Payload.upToBatchId',
          'transformedBatchIds.$': '$.Payload.transformedBatchIds',
          'rows.$': '$.Payload.rows',
          'quarantine.$': '$.Payload.quarantine',
        },
        'Load',
      ),
      Load: step(
        'load',
        parameters.loadFunctionArn,
        { 'upToBatchId.$': '$.Payload.upToBatchId', 'loadedBatchIds.$': '$.Payload.loadedBatchIds', 'rows.$': '$.Payload.rows' },
        'CheckQuarantine',
      ),
      CheckQuarantine: {
        Type: 'Choice',
        Comment: 'Rows held in quarantine do not fail the run: it succeeds, and one alert lists them. (A run resumed at Load has no Transform result: no alert.)',
        Choices: [
          {
            And: [{ Variable: '$.transform.quarantine.held', IsPresent: true }, { Variable: '$.transform.quarantine.held', NumericGreaterThan: 0 }],
            Next: NOTIFY_QUARANTINE_STATE,
          },
        ],
        Default: 'Done',
      },
      [NOTIFY_QUARANTINE_STATE]: {
        Type: 'Task',
        Comment: 'One alert per run while rows are held: how many, the first of them, and how to list them all.',
        Resource: 'arn:aws:states:::sns:publish',
        Parameters: {
          TopicArn: parameters.alertTopicArn,
          'Subject.$': "States.Format('ToteSys pipeline succeeded with {} rows in quarantine', $.transform.quarantine.held)",
          'Message.$': '$.transform.quarantine.message',
        },
        ResultPath: null,
        Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 2, BackoffRate: 2, MaxAttempts: 3, JitterStrategy: 'FULL' }],
        // The data is loaded: an alert that cannot be sent does not fail the run (the QuarantinedRows alarm still fires).
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: 'Done' }],
        Next: 'Done',
      },
      Done: { Type: 'Succeed' },
      GuardFailed: failed('CheckForRunningExecutions', { 'rerunInput.$': '$.guard.rerunInput' }),
      OverlapFailed: failed(OVERLAP_WAIT_STATE, { 'rerunInput.$': '$.guard.rerunInput' }),
      VerifyFailed: failed(VERIFY_STATE, { rerunInput: rerunInputParameters('verify') }),
      ExtractFailed: failed(STEP_STATE.extract, { rerunInput: rerunInputParameters('extract') }),
      TransformFailed: failed(STEP_STATE.transform, { rerunInput: rerunInputParameters('transform') }),
      LoadFailed: failed(STEP_STATE.load, { rerunInput: rerunInputParameters('load') }),
      NotifyFailure: {
        Type: 'Task',
        Comment: 'One alert per failed execution: what failed, why, and the input that re-runs it from the failed step.',
        Resource: 'arn:aws:states:::sns:publish',
        Parameters: {
          TopicArn: parameters.alertTopicArn,
          'Subject.$': "States.Format('ToteSys pipeline failed at {}', $.alert.step)",
          // Intrinsic strings cannot hold line breaks: the message is one paragraph.
          'Message.$':
            "States.Format('The ToteSys pipeline execution {} failed at step {}. Error: {}. Cause: {}. To re-run the pipeline from this step, start a new execution of the state machine with this input: {} (or run: npm run rerun -- {})', $$.Execution.Id, $.alert.step, $.alert.error, $.alert.cause, States.JsonToString($.alert.rerunInput), $$.Execution.Id)",
        },
        ResultPath: null,
        Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 2, BackoffRate: 2, MaxAttempts: 3, JitterStrategy: 'FULL' }],
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: 'PipelineFailed' }],
        Next: 'PipelineFailed',
      },
      PipelineFailed: {
        Type: 'Fail',
        Comment: 'Fails the execution (status FAILED) with the step error, so alarms and the console show it.',
        ErrorPath: '$.alert.error',
        CausePath: '$.alert.cause',
      },
    },
  };
}
