import './local/promise-with-resolvers';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PIPELINE_STEPS, type PipelineStep } from '../state-machine/definition';
import { startLocalEnvironment } from './local/environment';
import { readExecutions, resumeInput, runLocalExecution, type ExecutionRecord, type ProgressEvent } from './local/execution';
import { inProcessHandlers } from './local/step-handlers';

const USAGE = `npm start [-- options]

Runs the pipeline locally: the real state machine definition, the real step handlers, a local S3
server and PostgreSQL (embedded unless TOTESYS_DATABASE_URL and WAREHOUSE_DATABASE_URL are set).
Everything local lives in PIPELINE_HOME (default ./.pipeline): run again for an incremental run,
delete the folder to start over.

  --from <extract|transform|load>  re-run the last execution from this step
  --fast-retries                   retry failed steps after 100 ms instead of the real backoff
  --verbose                        show the steps' structured logs
  --help`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
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
  const home = path.resolve(process.env.PIPELINE_HOME ?? '.pipeline');
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
    const last = readExecutions(home).at(-1);
    const input = values.from ? resumeInput(last, values.from as PipelineStep) : {};
    if (values.from) console.log(`  Re-running ${last ? `execution ${last.name}` : 'the pipeline'} from ${values.from}: input ${JSON.stringify(input)}`);

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
      if (step) console.error(`Re-run from that step with: npm start -- --from ${step}`);
      return 1;
    }
    console.log(`\nSucceeded in ${elapsed()}.`);
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
      console.log(`✓ ${label(event.step)} ${event.seconds.toFixed(1)} s  ${describeOutput(event.output)}`);
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

function label(step: PipelineStep): string {
  return step[0]!.toUpperCase() + step.slice(1);
}

function describeOutput(output: unknown): string {
  const o = output as { batchId?: string | null; latestBatchId?: string | null; transformedBatchIds?: string[]; loadedBatchIds?: string[]; rows?: Record<string, number> };
  const rows = Object.values(o.rows ?? {}).reduce((sum, n) => sum + n, 0);
  const batches = o.transformedBatchIds ?? o.loadedBatchIds ?? (o.batchId ? [o.batchId] : []);
  if (batches.length === 0) return `nothing new (latest batch ${o.latestBatchId ?? 'none'})`;
  return `batch ${batches.join(', ')}: ${rows.toLocaleString('en-GB')} rows`;
}

function printSummary(record: ExecutionRecord): void {
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

/** The step whose failure ended the execution, or undefined when it failed before any step. */
function failedStep(record: ExecutionRecord): PipelineStep | undefined {
  return [...record.steps].reverse().find((s) => s.error)?.step;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
