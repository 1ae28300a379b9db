import './local/promise-with-resolvers';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PIPELINE_STEPS, VERIFY_INPUT, WAREHOUSE_MISMATCH_ERROR, type PipelineFunctionName, type PipelineStep } from '../state-machine/definition';
import { startLocalEnvironment } from './local/environment';
import { lastPipelineExecution, resumeInput, runLocalExecution, type ExecutionRecord, type ProgressEvent } from './local/execution';
import { inProcessHandlers } from './local/step-handlers';

const USAGE = `npm start [-- options]

Runs the pipeline locally: the real state machine definition, the real step handlers, a local S3
server and PostgreSQL (embedded unless TOTESYS_DATABASE_URL and WAREHOUSE_DATABASE_URL are set).
Everything local lives in PIPELINE_HOME (default ./.pipeline): run again for an incremental run,
delete the folder to start over.

  --from <extract|transform|load>  re-run the last execution from this step
  --verify                         compare the warehouse with ToteSys (the verification execution,
                                   input {"verify": true}); changes nothing
  --fast-retries                   retry failed steps after 100 ms instead of the real backoff
  --verbose                        show the steps' structured logs
  --help`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
      verify: { type: 'boolean', default: false },
      'fast-retries': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.from !== undefined && !PIPELINE_STEPS.includes(values.from as PipelineStep)) {
    console.error(`--from must be one of ${PIPELINE_STEPS.join(', ')}`);
    return 2;
  }
  if (values.verify && values.from !== undefined) {
    console.error('--verify runs the verification only: it does not go with --from');
    return 2;
  }
  const home = path.resolve(process.env.PIPELINE_HOME ?? '.pipeline');
  // Read before the steps' configuration goes into the environment (which names the warehouse).
  const embeddedWarehouse = !process.env.WAREHOUSE_DATABASE_URL;
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  console.log(`ToteSys pipeline, local run (PIPELINE_HOME=${path.relative(process.cwd(), home) || '.'})`);

  const seedScale = process.env.LOCAL_SEED_SCALE ? Number(process.env.LOCAL_SEED_SCALE) : 1;
  const environment = await startLocalEnvironment({
    home,
    totesysUrl: process.env.TOTESYS_DATABASE_URL,
    warehouseUrl: process.env.WAREHOUSE_DATABASE_URL,
    seedScale,
    log: (message) => console.log(`  ${message} [${elapsed()}]`),
  });
  try {
    Object.assign(process.env, environment.stepEnv, {
      POWERTOOLS_LOG_LEVEL: values.verbose ? 'INFO' : 'WARN',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    const last = lastPipelineExecution(home);
    const input: Record<string, unknown> = values.verify ? { ...VERIFY_INPUT } : values.from ? resumeInput(last, values.from as PipelineStep) : {};
    if (values.from) console.log(`  Re-running ${last ? `execution ${last.name}` : 'the pipeline'} from ${values.from}: input ${JSON.stringify(input)}`);
    if (values.verify) console.log(`  Verifying the warehouse against ToteSys: input ${JSON.stringify(input)}`);

    const record = await runLocalExecution({
      home,
      handlers: inProcessHandlers(),
      input,
      retryIntervalMs: values['fast-retries'] ? 100 : undefined,
      onProgress: (event) => printProgress(event, elapsed),
    });
    printSummary(record);
    if (record.status === 'FAILED') {
      const step = failedStep(record);
      console.error(`\nFAILED${step ? ` at ${label(step)}` : ''}: ${record.error?.name}: ${record.error?.message}`);
      if (step === 'verify') console.error('Verify again with: npm start -- --verify');
      else if (step) console.error(`Re-run from that step with: npm start -- --from ${step}`);
      if (record.error?.name === WAREHOUSE_MISMATCH_ERROR) console.error(`The differing rows: npm run verify. The execution record: ${path.join(home, 'executions', `${record.name}.json`)}`);
      return 1;
    }
    console.log(`\nSucceeded in ${elapsed()}.`);
    // The embedded warehouse has no address an operator knows: say how to look at it.
    if (embeddedWarehouse) {
      console.log(`Look at the warehouse with: npm run warehouse${values.verify ? '' : '. Check it against ToteSys with: npm run verify (or npm start -- --verify)'}`);
    }
    return 0;
  } finally {
    await environment.stop();
  }
}

function printProgress(event: ProgressEvent, elapsed: () => string): void {
  switch (event.kind) {
    case 'step-started':
      console.log(`▶ ${label(event.step)}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''} … [${elapsed()}]`);
      break;
    case 'step-succeeded':
      console.log(`✓ ${label(event.step)} ${event.seconds.toFixed(1)} s  ${event.step === 'verify' ? describeVerification(event.output) : describeOutput(event.output)}`);
      break;
    case 'step-failed':
      console.log(`✗ ${label(event.step)} ${event.seconds.toFixed(1)} s  ${event.error.name}: ${event.error.message}`);
      break;
    case 'alert':
      console.log(`✉ Alert (SNS, kept in notifications.jsonl): ${event.subject}\n  ${event.message}`);
      break;
    case 'skipped':
      console.log('• Skipped: another run is in progress.');
      break;
  }
}

function label(step: PipelineFunctionName): string {
  return step[0]!.toUpperCase() + step.slice(1);
}

function describeOutput(output: unknown): string {
  const o = output as { batchId?: string | null; latestBatchId?: string | null; transformedBatchIds?: string[]; loadedBatchIds?: string[]; rows?: Record<string, number> };
  const rows = Object.values(o.rows ?? {}).reduce((sum, n) => sum + n, 0);
  const batches = o.transformedBatchIds ?? o.loadedBatchIds ?? (o.batchId ? [o.batchId] : []);
  if (batches.length === 0) return `nothing new (latest batch ${o.latestBatchId ?? 'none'})`;
  return `batch ${batches.join(', ')}: ${rows.toLocaleString('en-GB')} rows`;
}

/** The verify function's result: `{ batchId, mismatchedRows, tables: [...] }`. */
interface Verification {
  readonly batchId?: string | null;
  readonly mismatchedRows?: number;
  /** Per table: an array of `{ table, …counts }`, or an object of counts keyed by table. */
  readonly tables?: readonly unknown[] | Readonly<Record<string, unknown>>;
}

function describeVerification(output: unknown): string {
  const o = (output ?? {}) as Verification;
  const asOf = o.batchId ? `as of batch ${o.batchId}` : 'with no batch loaded yet';
  if (!o.mismatchedRows) return `the warehouse equals ToteSys ${asOf}`;
  return `${o.mismatchedRows.toLocaleString('en-GB')} mismatched row(s) ${asOf}`;
}

/** Per table: its name and the numbers the verification gave it, whatever their names. */
function verifiedTables(tables: Verification['tables']): [string, string][] {
  if (!tables || typeof tables !== 'object') return [];
  const entries: [string | undefined, unknown][] = Array.isArray(tables) ? tables.map((entry) => [undefined, entry]) : Object.entries(tables);
  return entries.map(([key, entry]) => describeVerifiedTable(key, entry));
}

function describeVerifiedTable(key: string | undefined, entry: unknown): [string, string] {
  if (typeof entry !== 'object' || entry === null) return [key ?? String(entry), key === undefined ? '' : String(entry)];
  const fields = entry as Record<string, unknown>;
  const name = key ?? String(fields.table ?? fields.name ?? '?');
  const numbers = Object.entries(fields)
    .filter(([, value]) => typeof value === 'number')
    .map(([key, value]) => `${key} ${(value as number).toLocaleString('en-GB')}`);
  return [name, numbers.join(', ')];
}

function printSummary(record: ExecutionRecord): void {
  const verification = record.steps.find((s) => s.step === 'verify' && s.output)?.output as Verification | undefined;
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

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
