import './promise-with-resolvers';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { TASK_STATE, type PipelineFunctionName, type PipelineStep, type StateMachineDefinition } from '../../state-machine/definition';
import { LOCAL_ARNS, localDefinition } from '../../state-machine/local-definition';

/**
 * Runs the real state-machine definition with aws-local-stepfunctions: its Task states call the
 * steps' handlers in-process, the overlap check reads this machine's own execution records, and the
 * SNS alert is printed and kept in `home/notifications.jsonl`. Each execution leaves a record in
 * `home/executions/`, which `npm start -- --from <step>` reads to re-run the last one. The input
 * `{"verify": true}` runs the Verify task instead (`npm start -- --verify`).
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
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  readonly pid: number;
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
  readonly onProgress?: (event: ProgressEvent) => void;
  readonly name?: string;
}

export async function runLocalExecution(options: LocalExecutionOptions): Promise<ExecutionRecord> {
  const definition = options.definition ?? localDefinition();
  const name = options.name ?? `run-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
  const input = options.input ?? {};
  const record: ExecutionRecord = {
    name,
    executionArn: LOCAL_ARNS.execution(name),
    status: 'RUNNING',
    pid: process.pid,
    input,
    startedAt: new Date().toISOString(),
    steps: [],
    alerts: [],
  };
  const save = () => writeRecord(options.home, record);
  save();
  const progress = options.onProgress ?? (() => {});

  const attempts: Partial<Record<PipelineFunctionName, number>> = {};
  const handlerOf = (step: PipelineFunctionName): StepHandler =>
    options.handlers[step] ??
    (async () => {
      throw new Error(`No ${step} handler was given to this local execution`);
    });
  const task = (step: PipelineFunctionName) => async (parameters: { Payload: Record<string, unknown> }) => {
    const attempt = (attempts[step] = (attempts[step] ?? 0) + 1);
    progress({ kind: 'step-started', step, attempt });
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const output = await handlerOf(step)(parameters.Payload);
      record.steps.push({ step, attempts: attempt, seconds: seconds(), input: parameters.Payload, output });
      save();
      progress({ kind: 'step-succeeded', step, seconds: seconds(), output });
      return { Payload: output, StatusCode: 200 };
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      record.steps.push({ step, attempts: attempt, seconds: seconds(), input: parameters.Payload, error: { name: failure.name, message: failure.message } });
      save();
      progress({ kind: 'step-failed', step, seconds: seconds(), error: failure, attempt });
      throw failure;
    }
  };

  const machine = new StateMachine(definition as never);
  // The library types its handlers over its own JSON type; ours are checked by the definition.
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: ({
        CheckForRunningExecutions: async () => ({ Executions: runningExecutions(options.home).map((r) => ({ executionArn: r.executionArn })) }),
        [TASK_STATE.extract]: task('extract'),
        [TASK_STATE.transform]: task('transform'),
        [TASK_STATE.load]: task('load'),
        [TASK_STATE.verify]: task('verify'),
        NotifyFailure: async (parameters: { Subject: string; Message: string }) => {
          const alert = { subject: parameters.Subject, message: parameters.Message };
          record.alerts.push(alert);
          appendFileSync(path.join(options.home, 'notifications.jsonl'), `${JSON.stringify({ at: new Date().toISOString(), execution: name, ...alert })}\n`);
          progress({ kind: 'alert', ...alert });
          return { MessageId: `local-${record.alerts.length}` };
        },
      } as never),
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
    record.output = await execution.result;
    record.status = 'SUCCEEDED';
    if ((record.output as { skipped?: string })?.skipped) progress({ kind: 'skipped' });
  } catch (error) {
    record.status = 'FAILED';
    // The interpreter wraps the Fail state's error; its cause is the error the execution ended with.
    const failure = error instanceof Error && error.cause instanceof Error ? error.cause : (error as Error);
    record.error = { name: failure.name, message: failure.message };
  } finally {
    record.stoppedAt = new Date().toISOString();
    save();
  }
  return record;
}

function executionsDir(home: string): string {
  const dir = path.join(home, 'executions');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function writeRecord(home: string, record: ExecutionRecord): void {
  writeFileSync(path.join(executionsDir(home), `${record.name}.json`), JSON.stringify(record, null, 2));
}

export function readExecutions(home: string): ExecutionRecord[] {
  const dir = path.join(home, 'executions');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .map((file) => JSON.parse(readFileSync(path.join(dir, file), 'utf-8')) as ExecutionRecord)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** Executions still running: their record says so and their process is alive (a crashed one is not). */
function runningExecutions(home: string): ExecutionRecord[] {
  return readExecutions(home).filter((r) => r.status === 'RUNNING' && isAlive(r.pid));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The newest execution that ran the pipeline (not a verification): the one `--from` re-runs. */
export function lastPipelineExecution(home: string): ExecutionRecord | undefined {
  return readExecutions(home)
    .filter((record) => record.input.verify !== true)
    .at(-1);
}

/** The input that re-runs `last` from `step`, as the console path does in AWS. */
export function resumeInput(last: ExecutionRecord | undefined, step: PipelineStep): Record<string, unknown> {
  if (step === 'extract') return { resumeFrom: 'extract' };
  const feeding: PipelineStep = step === 'transform' ? 'extract' : 'transform';
  const fed = [...(last?.steps ?? [])].reverse().find((s) => s.step === step)?.input.latestBatchId;
  const produced = [...(last?.steps ?? [])].reverse().find((s) => s.step === feeding && s.output) as { output?: { latestBatchId?: string | null } } | undefined;
  const batchId = (fed as string | null | undefined) ?? produced?.output?.latestBatchId ?? undefined;
  return batchId ? { resumeFrom: step, batchId } : { resumeFrom: step };
}
