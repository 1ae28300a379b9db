import '../../state-machine/promise-with-resolvers';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { NOTIFY_QUARANTINE_STATE, OVERLAP_WAIT_STATE, TASK_STATE, type StateMachineDefinition } from '../../state-machine/definition';
import { rerunInput, UP_TO_BATCH_FROM, type BatchStepInput, type PipelineFunctionName, type PipelineStep, type RerunInput } from '../../functions/shared/step-contract';
import { LOCAL_ARNS, localDefinition } from '../../state-machine/local-definition';
import { localAlertMessage } from './advice';
import { isSameProcess, processIdentity } from './processes';

/**
 * Runs the real state-machine definition with aws-local-stepfunctions: its Task states call the
 * steps' handlers in-process, the overlap check reads this machine's own execution records, and the
 * SNS alert is printed and kept in `home/notifications.jsonl`. Each execution leaves a record in
 * `home/executions/`, which `npm start -- --from <step>` reads to re-run the last one. The input
 * `{"verify": true}` runs the Verify task instead (`npm start -- --verify`).
 *
 * A record says RUNNING only while its run is live: it names its process by PID and identity
 * (scripts/local/processes.ts), so a record left by a killed run, whose PID is now a zombie or
 * another program, does not count as running. An interrupted run is recorded as ABORTED.
 */
export type StepHandler = (payload: Record<string, unknown>) => Promise<unknown>;

/** The handlers of the state machine's Lambda Tasks. Verify is needed only by a verification. */
export type TaskHandlers = Readonly<Record<PipelineStep, StepHandler>> & { readonly verify?: StepHandler };

export interface StepRun {
  readonly step: PipelineFunctionName;
  readonly attempts: number;
  readonly seconds: number;
  readonly input: Record<string, unknown>;
  readonly output?: unknown;
  readonly error?: { readonly name: string; readonly message: string };
}

export interface ExecutionRecord {
  readonly name: string;
  readonly executionArn: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  readonly pid: number;
  /** The identity of process `pid` (scripts/local/processes.ts): tells it from a later holder of the PID. */
  readonly processStart?: string;
  /** The step running now (while RUNNING), or when the run was aborted. */
  activeStep?: PipelineFunctionName;
  readonly input: Record<string, unknown>;
  readonly startedAt: string;
  stoppedAt?: string;
  output?: unknown;
  error?: { name: string; message: string };
  steps: StepRun[];
  alerts: { subject: string; message: string }[];
}

export type ProgressEvent =
  | { kind: 'step-started'; step: PipelineFunctionName; attempt: number }
  | { kind: 'step-succeeded'; step: PipelineFunctionName; seconds: number; output: unknown }
  | { kind: 'step-failed'; step: PipelineFunctionName; seconds: number; error: Error; attempt: number }
  | { kind: 'alert'; subject: string; message: string }
  | { kind: 'skipped' };

export interface LocalExecutionOptions {
  readonly home: string;
  readonly handlers: TaskHandlers;
  readonly input?: Record<string, unknown>;
  readonly definition?: StateMachineDefinition;
  /** Retry intervals in milliseconds instead of the definition's real ones. */
  readonly retryIntervalMs?: number;
  /** The overlap guard's wait between two listings, in milliseconds, instead of the definition's. */
  readonly overlapPollMs?: number;
  /**
   * What ListExecutions answers, instead of this home's running executions: a test's stand-in for
   * AWS's eventually consistent listing (an execution missing, or one that has ended still there).
   */
  readonly listRunningExecutions?: () => ListedExecution[];
  readonly onProgress?: (event: ProgressEvent) => void;
  readonly name?: string;
}

/** One entry of ListExecutions' answer, as the SDK integration gives it (newest first). */
export interface ListedExecution {
  readonly ExecutionArn: string;
  readonly Name: string;
  readonly StartDate: string;
  readonly Status: string;
}

/** The executions this process is running, by name: theirs are the only records of this PID that are live. */
const active = new Map<string, { record: ExecutionRecord; save: () => void; aborted: boolean }>();

export async function runLocalExecution(options: LocalExecutionOptions): Promise<ExecutionRecord> {
  const definition = options.definition ?? localDefinition();
  const name = options.name ?? `run-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
  const input = options.input ?? {};
  const record: ExecutionRecord = {
    name,
    executionArn: LOCAL_ARNS.execution(name),
    status: 'RUNNING',
    pid: process.pid,
    processStart: processIdentity(process.pid),
    input,
    startedAt: new Date().toISOString(),
    steps: [],
    alerts: [],
  };
  const entry = { record, aborted: false, save: () => writeRecord(options.home, record) };
  // Once aborted, the record keeps what it held then: what the dying steps report is not the run's outcome.
  const save = () => {
    if (!entry.aborted) entry.save();
  };
  save();
  active.set(name, entry);
  const progress = options.onProgress ?? (() => {});

  const attempts: Partial<Record<PipelineFunctionName, number>> = {};
  const handlerOf = (step: PipelineFunctionName): StepHandler =>
    options.handlers[step] ??
    (async () => {
      throw new Error(`No ${step} handler was given to this local execution`);
    });
  const task = (step: PipelineFunctionName) => async (parameters: { Payload: Record<string, unknown> }) => {
    // An aborted run starts no further step (and one that finishes is not carried on from).
    if (entry.aborted) throw new Error(`the execution was aborted before ${step}`);
    const attempt = (attempts[step] = (attempts[step] ?? 0) + 1);
    record.activeStep = step;
    save();
    progress({ kind: 'step-started', step, attempt });
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const output = await handlerOf(step)(parameters.Payload);
      if (entry.aborted) throw new Error(`the execution was aborted while ${step} was running`);
      delete record.activeStep;
      record.steps.push({ step, attempts: attempt, seconds: seconds(), input: parameters.Payload, output });
      save();
      progress({ kind: 'step-succeeded', step, seconds: seconds(), output });
      return { Payload: output, StatusCode: 200 };
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      if (entry.aborted) throw failure;
      delete record.activeStep;
      record.steps.push({ step, attempts: attempt, seconds: seconds(), input: parameters.Payload, error: { name: failure.name, message: failure.message } });
      save();
      progress({ kind: 'step-failed', step, seconds: seconds(), error: failure, attempt });
      throw failure;
    }
  };

  /** The SNS alerts: printed, kept in the record and in notifications.jsonl. */
  const notify = async (parameters: { Subject: string; Message: string }) => {
    if (entry.aborted) return { MessageId: 'not-sent-aborted' };
    // A failure alert's advice is for AWS: locally it names the local command (scripts/local/advice.ts).
    const failed = record.steps.at(-1);
    const alert = { subject: parameters.Subject, message: localAlertMessage(parameters.Message, failed?.error ? failed.step : undefined) };
    record.alerts.push(alert);
    appendFileSync(path.join(options.home, 'notifications.jsonl'), `${JSON.stringify({ at: new Date().toISOString(), execution: name, ...alert })}\n`);
    progress({ kind: 'alert', ...alert });
    return { MessageId: `local-${record.alerts.length}` };
  };
  const machine = new StateMachine(definition as never);
  // The library types its handlers over its own JSON type; ours are checked by the definition.
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: ({
        // ListExecutions' answer as the SDK integration gives it: newest first, PascalCase fields.
        CheckForRunningExecutions: async () => ({
          Executions:
            options.listRunningExecutions?.() ??
            runningExecutions(options.home)
              .reverse()
              .map((r): ListedExecution => ({ ExecutionArn: r.executionArn, Name: r.name, StartDate: r.startedAt, Status: r.status })),
        }),
        [TASK_STATE.extract]: task('extract'),
        [TASK_STATE.transform]: task('transform'),
        [TASK_STATE.load]: task('load'),
        [TASK_STATE.verify]: task('verify'),
        NotifyFailure: notify,
        [NOTIFY_QUARANTINE_STATE]: notify,
      } as never),
      ...(options.overlapPollMs === undefined ? {} : { waitTimeOverrides: { [OVERLAP_WAIT_STATE]: options.overlapPollMs } }),
      ...(options.retryIntervalMs === undefined
        ? {}
        : { retryIntervalOverrides: Object.fromEntries(Object.values(TASK_STATE).map((state) => [state, options.retryIntervalMs!])) }),
    },
    context: {
      Execution: { Id: record.executionArn, Name: name, Input: input, StartTime: record.startedAt },
      StateMachine: { Id: LOCAL_ARNS.stateMachine, Name: 'totesys-pipeline-local' },
    } as never,
  });
  try {
    const output = await execution.result;
    if (!entry.aborted) {
      record.output = output;
      record.status = 'SUCCEEDED';
      if ((record.output as { skipped?: string })?.skipped) progress({ kind: 'skipped' });
    }
  } catch (error) {
    if (!entry.aborted) {
      record.status = 'FAILED';
      // The interpreter wraps the Fail state's error; its cause is the error the execution ended with.
      const failure = error instanceof Error && error.cause instanceof Error ? error.cause : (error as Error);
      record.error = { name: failure.name, message: failure.message };
    }
  } finally {
    active.delete(name);
    if (!entry.aborted) {
      delete record.activeStep;
      record.stoppedAt = new Date().toISOString();
      save();
    }
  }
  return record;
}

/**
 * Marks every execution this process is running as ABORTED (`reason`: what stopped it), at once
 * and synchronously: it runs when a signal arrives, and the process may exit right after.
 * Returns the records as they were saved.
 */
export function abortRunningExecutions(reason: string): ExecutionRecord[] {
  const aborted: ExecutionRecord[] = [];
  for (const entry of active.values()) {
    if (entry.aborted) continue;
    const { record } = entry;
    record.status = 'ABORTED';
    record.stoppedAt = new Date().toISOString();
    record.error = { name: 'Aborted', message: `${reason}${record.activeStep ? ` while ${record.activeStep} was running` : ''}` };
    entry.save();
    entry.aborted = true;
    aborted.push(record);
  }
  return aborted;
}

/**
 * Marks as ABORTED every record of `home` that says RUNNING although its run is not: its
 * process has gone (killed, crashed), is a zombie, or its PID now belongs to another process.
 * Called by a run that holds the home's lock (scripts/local/run-lock.ts), which no other live
 * run can hold: so a record without a process identity (written before records had one) is
 * stale too. Returns the records it marked.
 */
export function abandonStaleExecutions(home: string): ExecutionRecord[] {
  const stale = readExecutions(home).filter((r) => r.status === 'RUNNING' && !(r.processStart !== undefined && isLive(r)));
  for (const record of stale) {
    record.status = 'ABORTED';
    record.stoppedAt = new Date().toISOString();
    record.error = {
      name: 'Aborted',
      message: `killed or crashed${record.activeStep ? ` while ${record.activeStep} was running` : ''} (its process, PID ${record.pid}, is gone)`,
    };
    writeRecord(home, record);
  }
  return stale;
}

function executionsDir(home: string): string {
  const dir = path.join(home, 'executions');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Written aside and renamed into place: a run killed mid-write leaves the previous record whole, never half of one. */
function writeRecord(home: string, record: ExecutionRecord): void {
  const file = path.join(executionsDir(home), `${record.name}.json`);
  writeFileSync(`${file}.partial`, JSON.stringify(record, null, 2));
  renameSync(`${file}.partial`, file);
}

export function readExecutions(home: string): ExecutionRecord[] {
  const dir = path.join(home, 'executions');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .flatMap((file) => {
      try {
        return [JSON.parse(readFileSync(path.join(dir, file), 'utf-8')) as ExecutionRecord];
      } catch {
        return []; // not a record (a file put there by hand): no run's, and not to stop every later run
      }
    })
    .filter((record) => typeof record.startedAt === 'string' && typeof record.name === 'string')
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** Executions still running: their record says so and their run is live (a crashed one's is not). */
export function runningExecutions(home: string): ExecutionRecord[] {
  return readExecutions(home).filter((r) => r.status === 'RUNNING' && isLive(r));
}

/**
 * A record of this process is live while this process runs it; another process's, while that
 * process still has the PID and identity it recorded (a record without an identity trusts its PID).
 */
function isLive(record: ExecutionRecord): boolean {
  if (record.pid === process.pid) return active.has(record.name);
  return isSameProcess(record.pid, record.processStart);
}

/** The newest execution that ran the pipeline (not a verification): the one `--from` re-runs. */
export function lastPipelineExecution(home: string): ExecutionRecord | undefined {
  return readExecutions(home)
    .filter((record) => record.input.verify !== true)
    .at(-1);
}

/**
 * The input that re-runs `last` from `step` (the step contract's `rerunInput`, as
 * state-machine/rerun.ts reads it from an execution's history in AWS): the batch that step was
 * given, or, when it did not run, the batch the step before it handed on.
 */
export function rerunInputFromRecord(last: ExecutionRecord | undefined, step: PipelineStep): RerunInput {
  if (step === 'extract') return rerunInput(step);
  const newestFirst = [...(last?.steps ?? [])].reverse();
  const given = newestFirst.find((s) => s.step === step)?.input as BatchStepInput | undefined;
  const handedOn = newestFirst.find((s) => s.step === UP_TO_BATCH_FROM[step] && s.output)?.output as { upToBatchId?: string | null } | undefined;
  return rerunInput(step, { upToBatchId: given?.upToBatchId ?? handedOn?.upToBatchId });
}
