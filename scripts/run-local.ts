import '../state-machine/promise-with-resolvers';
import path from 'node:path';
import { readDatabaseCredentials } from '../functions/shared/config';
import { ConfigurationError } from '../functions/shared/errors';
import { TASK_STATE, WAREHOUSE_MISMATCH_ERROR } from '../state-machine/definition';
import {
  PIPELINE_STEPS,
  VERIFY_INPUT,
  type ExtractOutput,
  type LoadOutput,
  type PipelineFunctionName,
  type PipelineStep,
  type TransformOutput,
  type VerifyOutput,
} from '../functions/shared/step-contract';
import { readCommandLine } from './cli';
import { localAdvice } from './local/advice';
import { readSeedScale, startLocalEnvironment, type LocalEnvironment } from './local/environment';
import {
  abandonStaleExecutions,
  abortRunningExecutions,
  lastPipelineExecution,
  readExecutions,
  rerunInputFromRecord,
  runLocalExecution,
  type ExecutionRecord,
  type ProgressEvent,
} from './local/execution';
import { preparePipelineHome } from './local/home';
import { duckDbWorkRoots, removeDuckDbLeftovers } from './local/leftovers';
import { age } from './local/processes';
import { acquireRunLock, describeStaleLock, RunInProgressError, type RunLock } from './local/run-lock';
import { inProcessHandlers } from './local/step-handlers';

const USAGE = `npm start [-- options]

Runs the pipeline locally: the real state machine definition, the real step handlers, a local S3
server and PostgreSQL (embedded unless TOTESYS_DATABASE_URL and WAREHOUSE_DATABASE_URL are set).
Everything local lives in PIPELINE_HOME (default ./.pipeline): run again for an incremental run,
delete the folder to start over. One run at a time per PIPELINE_HOME; Ctrl-C stops a run, records
it as aborted and says how to resume it.

  --from <extract|transform|load>  re-run the last execution from this step
  --verify                         compare the warehouse with ToteSys (the verification execution,
                                   input {"verify": true}); changes nothing
  --fast-retries                   retry failed steps after 100 ms instead of the real backoff
  --verbose                        show the steps' structured logs
  --help`;

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const SIGNAL_NUMBERS: Record<(typeof STOP_SIGNALS)[number], number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** What the run is doing, for the message a signal prints. */
let phase: 'starting' | 'running' = 'starting';
/** Set once a signal stopped the run: progress reported after it is the dying steps', not news. */
let interrupted = false;
let lock: RunLock | undefined;
let environment: LocalEnvironment | undefined;

async function main(): Promise<number> {
  const line = readCommandLine(process.argv.slice(2), {
    usage: USAGE,
    options: { from: { type: 'string' }, verify: { type: 'boolean' }, 'fast-retries': { type: 'boolean' }, verbose: { type: 'boolean' } },
  });
  if (typeof line === 'number') return line;
  const values = line.values;
  if (values.from !== undefined && !PIPELINE_STEPS.includes(values.from as PipelineStep)) {
    console.error(`--from must be one of ${PIPELINE_STEPS.join(', ')}, not "${values.from}"\n\n${USAGE}`);
    return 2;
  }
  if (values.verify && values.from !== undefined) {
    console.error(`--verify runs the verification only: it does not go with --from\n\n${USAGE}`);
    return 2;
  }
  const home = path.resolve(process.env.PIPELINE_HOME ?? '.pipeline');
  // Read before the steps' configuration goes into the environment (which names the warehouse).
  const embeddedWarehouse = !process.env.WAREHOUSE_DATABASE_URL;
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  const note = (message: string) => console.log(`  ${message} [${elapsed()}]`);
  console.log(`ToteSys pipeline, local run (PIPELINE_HOME=${shown(home)})`);

  // Everything that can be checked before starting anything is: a mistake is named at once.
  const seedScale = checkConfiguration(home);
  lock = acquireRunLock(home, `npm start${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`);
  for (const signal of STOP_SIGNALS) process.on(signal, () => void stopOnSignal(signal, home));
  if (lock.stale) note(describeStaleLock(lock.stale));
  for (const record of abandonStaleExecutions(home)) {
    note(`The earlier run ${record.name} (started ${age(record.startedAt)} ago) did not finish: ${record.error?.message}. Recorded it as ABORTED.`);
  }
  const leftovers = removeDuckDbLeftovers(duckDbWorkRoots());
  if (leftovers.length > 0) note(`Removed ${leftovers.length} DuckDB temp folder(s) left by runs that were killed: ${leftovers.join(', ')}`);

  environment = await startLocalEnvironment({
    home,
    totesysUrl: process.env.TOTESYS_DATABASE_URL,
    warehouseUrl: process.env.WAREHOUSE_DATABASE_URL,
    seedScale,
    log: note,
  });
  Object.assign(process.env, environment.stepEnv, { POWERTOOLS_LOG_LEVEL: values.verbose ? 'INFO' : 'WARN' });
  const last = lastPipelineExecution(home);
  const input: Record<string, unknown> = values.verify ? { ...VERIFY_INPUT } : values.from ? rerunInputFromRecord(last, values.from as PipelineStep) : {};
  if (values.from) console.log(`  Re-running ${last ? `execution ${last.name}` : 'the pipeline'} from ${values.from}: input ${JSON.stringify(input)}`);
  if (values.verify) console.log(`  Verifying the warehouse against ToteSys: input ${JSON.stringify(input)}`);

  phase = 'running';
  const record = await runLocalExecution({
    home,
    handlers: inProcessHandlers(),
    input,
    retryIntervalMs: values['fast-retries'] ? 100 : undefined,
    onProgress: (event) => {
      if (!interrupted) printProgress(event, elapsed);
    },
  });
  if (interrupted) return new Promise<number>(() => {}); // the signal handler ends the process
  printSummary(record);
  if ((record.output as { skipped?: string } | undefined)?.skipped) {
    // Only a run that does not hold the lock gets here (another version of this script): say whose run it was.
    const other = readExecutions(home).find((r) => r.status === 'RUNNING' && r.name !== record.name);
    console.error(`\nSkipped: another run is in progress${other ? ` (execution ${other.name}, PID ${other.pid}, since ${other.startedAt})` : ''}. Nothing was done.`);
    return 1;
  }
  if (record.status === 'FAILED') {
    const step = failedStep(record);
    console.error(`\nFAILED${step ? ` at ${label(step)}` : ''}: ${record.error?.name}: ${record.error?.message}`);
    console.error(localAdvice(record.error?.name, step));
    if (record.error?.name === WAREHOUSE_MISMATCH_ERROR) console.error(`The execution record: ${path.join(home, 'executions', `${record.name}.json`)}`);
    return 1;
  }
  // Rows held in quarantine do not fail the run; the alert above listed them.
  const held = (record.output as { transform?: { quarantine?: { held?: number } } } | undefined)?.transform?.quarantine?.held ?? 0;
  console.log(`\nSucceeded${held > 0 ? ` with ${held} rows in quarantine` : ''} in ${elapsed()}.`);
  if (held > 0) console.log('Every run retries them; fix them in ToteSys and they flow in. List them with: npm run quarantine (docs/quarantine.md)');
  // The embedded warehouse has no address an operator knows: say how to look at it.
  if (embeddedWarehouse) {
    console.log(`Look at the warehouse with: npm run warehouse${values.verify ? '' : '. Check it against ToteSys with: npm run verify (or npm start -- --verify)'}`);
  }
  return 0;
}

/** The settings npm start reads itself, checked before anything starts; returns the seed scale. */
function checkConfiguration(home: string): number {
  preparePipelineHome(home);
  for (const prefix of ['TOTESYS', 'WAREHOUSE'] as const) {
    if (process.env[`${prefix}_DATABASE_URL`]) readDatabaseCredentials({ [`${prefix}_DATABASE_URL`]: process.env[`${prefix}_DATABASE_URL`] }, prefix);
  }
  return readSeedScale();
}

/**
 * Ctrl-C (SIGINT), SIGTERM or SIGHUP: records the run as ABORTED at once (the process may not
 * get much further), says what happened and how to resume, releases the lock, stops the local
 * servers, and exits 128 + the signal's number. A second signal exits at once.
 */
async function stopOnSignal(signal: (typeof STOP_SIGNALS)[number], home: string): Promise<void> {
  const code = 128 + SIGNAL_NUMBERS[signal];
  if (interrupted) process.exit(code);
  interrupted = true;
  const what = signal === 'SIGINT' ? 'SIGINT (Ctrl-C)' : signal;
  const aborted = abortRunningExecutions(`stopped by ${what}`);
  console.error(`\nInterrupted by ${what}.`);
  for (const record of aborted) {
    const step = record.activeStep;
    console.error(`Execution ${record.name} stopped${step ? ` during ${label(step)}` : ''}; recorded as ABORTED in ${path.join(shown(home), 'executions', `${record.name}.json`)}.`);
    console.error(record.input.verify === true ? 'Verify again with: npm start -- --verify' : localAdvice('Aborted', step && step !== 'verify' ? step : undefined));
  }
  if (aborted.length === 0 && phase === 'starting') {
    console.error(`Stopped before the pipeline ran${environment ? '' : ' (while starting the local servers or seeding ToteSys: the next npm start seeds it again if need be)'}. Run npm start again.`);
  }
  lock?.release();
  const forced = setTimeout(() => process.exit(code), 10_000);
  forced.unref();
  await environment?.stop().catch(() => {});
  process.exit(code);
}

function shown(home: string): string {
  const relative = path.relative(process.cwd(), home);
  return relative === '' ? '.' : relative.startsWith('..') || path.isAbsolute(relative) ? home : relative;
}

function printProgress(event: ProgressEvent, elapsed: () => string): void {
  switch (event.kind) {
    case 'step-started':
      console.log(`▶ ${label(event.step)}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''} … [${elapsed()}]`);
      break;
    case 'step-succeeded':
      console.log(`✓ ${label(event.step)} ${event.seconds.toFixed(1)} s  ${event.step === 'verify' ? describeVerification(event.output as VerifyOutput) : describeOutput(event.output)}`);
      break;
    case 'step-failed':
      console.log(`✗ ${label(event.step)} ${event.seconds.toFixed(1)} s  ${event.error.name}: ${event.error.message}`);
      break;
    case 'alert':
      console.log(`✉ Alert (SNS, kept in notifications.jsonl): ${event.subject}\n  ${event.message}`);
      break;
    case 'skipped':
      // Said once the run ends, with whose run it was (main).
      break;
  }
}

function label(step: PipelineFunctionName): string {
  return TASK_STATE[step];
}

function describeOutput(output: unknown): string {
  const o = output as Partial<ExtractOutput & TransformOutput & LoadOutput>;
  const rows = Object.values(o.rows ?? {}).reduce((sum, n) => sum + n, 0);
  const batches = o.transformedBatchIds ?? o.loadedBatchIds ?? (o.batchId ? [o.batchId] : []);
  if (batches.length === 0) return `nothing new (up to batch ${o.upToBatchId ?? 'none'})`;
  return `batch ${batches.join(', ')}: ${rows.toLocaleString('en-GB')} rows`;
}

function describeVerification(output: VerifyOutput): string {
  const asOf = output.batchId ? `as of batch ${output.batchId}` : 'with no batch loaded yet';
  if (!output.mismatchedRows) return `the warehouse equals ToteSys ${asOf}`;
  return `${output.mismatchedRows.toLocaleString('en-GB')} mismatched row(s) ${asOf}`;
}

/** Per table: its name and its counts (`compared 12, missing 0, …`). */
function verifiedTables(tables: VerifyOutput['tables']): [string, string][] {
  return Object.entries(tables).map(([table, counts]) => [
    table,
    Object.entries(counts)
      .map(([name, value]) => `${name} ${value.toLocaleString('en-GB')}`)
      .join(', '),
  ]);
}

function printSummary(record: ExecutionRecord): void {
  const verification = record.steps.find((s) => s.step === 'verify' && s.output)?.output as VerifyOutput | undefined;
  if (verification) {
    console.log(`\nVerification ${record.name} (${record.status}): ${describeVerification(verification)}`);
    const tables = verifiedTables(verification.tables);
    const width = Math.max(5, ...tables.map(([name]) => name.length));
    for (const [name, numbers] of tables) console.log(`  ${name.padEnd(width)} ${numbers}`);
    return;
  }
  const lines: [string, string, string][] = [];
  for (const run of record.steps.filter((s) => s.output)) {
    const rows = (run.output as { rows?: Record<string, number> }).rows ?? {};
    const entries = Object.entries(rows);
    if (entries.length === 0) lines.push([run.step, '(no changes)', '0']);
    for (const [table, count] of entries) lines.push([run.step, table, count.toLocaleString('en-GB')]);
  }
  if (lines.length === 0) return;
  const widths = [9, Math.max(5, ...lines.map((l) => l[1].length)), Math.max(4, ...lines.map((l) => l[2].length))];
  const row = (cells: [string, string, string]) => `  ${cells[0].padEnd(widths[0]!)} ${cells[1].padEnd(widths[1]!)} ${cells[2].padStart(widths[2]!)}`;
  console.log(`\nSummary of ${record.name} (${record.status}):`);
  console.log(row(['step', 'table', 'rows']));
  for (const line of lines) console.log(row(line));
  const times = record.steps.filter((s) => s.output).map((s) => `${s.step} ${s.seconds.toFixed(1)} s (${s.attempts} attempt${s.attempts > 1 ? 's' : ''})`);
  console.log(`  time: ${times.join(', ')}`);
}

/**
 * The step whose failure ended the execution: the last one run, when it failed. Undefined when the
 * execution failed otherwise (before any step, or a verification that found differences).
 */
function failedStep(record: ExecutionRecord): PipelineFunctionName | undefined {
  const last = record.steps.at(-1);
  return last?.error ? last.step : undefined;
}

main()
  .catch((error: unknown) => {
    if (error instanceof RunInProgressError) {
      console.error(`\n${error.message}`);
      return 1;
    }
    if (error instanceof ConfigurationError) {
      console.error(`\nConfiguration error: ${error.message}`);
      return 1;
    }
    const message = error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error ?? 'unknown error');
    console.error(`npm start failed: ${message}`);
    return 1;
  })
  .then(async (code) => {
    lock?.release();
    await environment?.stop().catch(() => {});
    process.exit(code);
  });
