/**
 * npm run bench -- --scale N [--out results.json] [--keep]
 *
 * Measures each pipeline step against the bare engine doing the same work, on a ToteSys seeded at
 * scale N (see scripts/bench/source.ts for where it lives) and a fresh warehouse, each step in a
 * process of its own, first for the full initial run and then for an incremental run after live
 * activity changing about 0.1% of the orders, transactions and payments:
 *   extract    changed rows into the ingestion bucket     vs  COPY (SELECT row_to_json(t) …) TO STDOUT into files
 *   transform  the batch's JSONL into the star schemas     vs  DuckDB COPY (SELECT * FROM read_json(…)) TO parquet, same files
 *   load       the batch's Parquet into the warehouse     vs  COPY … FROM STDIN of the same rows into unindexed tables
 *
 *   --scale N   ToteSys scale (1 = about the real database, 100 = about 5.4M rows)
 *   --out FILE  also write the results, with the machine they ran on, as JSON
 *   --keep      keep the working directory (local S3 data and COPY output) instead of deleting it
 *
 * PostgreSQL: the server named by BENCH_POSTGRES_URL, else TEST_POSTGRES_URL (maintenance-database
 * URLs), else an embedded server kept in .pipeline/bench/pg.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readCommandLine } from './cli';
import { localS3Client, localS3Environment, S3RVER_CREDENTIALS, startLocalS3 } from './local/s3';
import type { SeedProgress } from './totesys/generate';
import type { ActivityOutput } from './bench/activity';
import type { CopyBaselineOutput } from './bench/copy-baseline';
import type { ExtractStepOutput } from './bench/extract';
import type { VerifyStepOutput } from './bench/verify';
import type { S3Client } from '@aws-sdk/client-s3';
import { readManifest } from '../functions/shared/batch-manifests';
import type { IngestionManifest } from '../functions/shared/ingestion-manifest';
import type { ProcessedManifest } from '../functions/shared/processed-manifest';
import { downloadObject } from '../functions/shared/s3-files';
import { createDatabase, dropDatabase } from './local/postgres';
import type { TransformStepOutput } from './bench/transform';
import { formatTable, machineInfo, stepRow, type BenchReport, type Measured } from './bench/report';
import { copyForRun, countRows, ensureSeededDatabase, openBenchServer, withSql, type RowCounts } from './bench/source';
import { runStepProcess } from './bench/step-process';

const BUCKET = 'bench-ingestion';
const PROCESSED_BUCKET = 'bench-processed';
/**
 * DuckDB's limits in the bench. DuckDB fills the memory it is given and spills beyond it, so a
 * step's peak RSS follows the limit more than the data: Transform at scale 100 peaks at 564 MB
 * with 256 MB, 704 MB with 384 and about 830 MB with 512, in the same time. 256 MB is what
 * functions/shared/config.ts duckDbMemoryLimitMb gives a Lambda of 704 MB.
 */
const DUCKDB = { memoryLimitMb: 256, threads: 2 };

/**
 * A write changes about two fact rows on average (placing an order inserts an order, its
 * transaction and its payment; an amendment or a settlement updates one row), so this many writes
 * change about 0.1% of them.
 */
const ACTIVITY_DEFINITION =
  'writes = max(10, round(0.001 x (sales_order + purchase_order + transaction + payment rows) / 2)): about 0.1% of those rows change, at about 2 rows a write';

function activityWrites(rows: RowCounts): number {
  const factRows = rows.sales_order + rows.purchase_order + rows.transaction + rows.payment;
  return Math.max(10, Math.round((0.001 * factRows) / 2));
}

interface Options {
  scale: number;
  out?: string;
  keep: boolean;
}

const USAGE = `npm run bench -- --scale N [--out results.json] [--keep]

Measures each pipeline step (extract, transform, load) against the bare engine doing the same
work, on a ToteSys seeded at scale N and a fresh warehouse: the initial run, then an incremental
run after activity changing about 0.1% of the facts. PostgreSQL: BENCH_POSTGRES_URL, else
TEST_POSTGRES_URL, else an embedded server kept in .pipeline/bench/pg.

  --scale N   ToteSys scale (1 = about the real database, 100 = about 5.4M rows)
  --out FILE  also write the results, with the machine they ran on, as JSON
  --keep      keep the working directory (local S3 data and COPY output) instead of deleting it
  --help`;

/** The options, or the exit code when the command line says not to run (--help, a mistake: usage printed). */
function parseOptions(argv: string[]): Options | number {
  const line = readCommandLine(argv, { usage: USAGE, options: { scale: { type: 'string' }, out: { type: 'string' }, keep: { type: 'boolean' } } });
  if (typeof line === 'number') return line;
  const { values } = line;
  const scale = Number(values.scale);
  if (values.scale === undefined || !Number.isFinite(scale) || scale <= 0) {
    console.error(`pass --scale N, a positive number (1 = about the real ToteSys)\n\n${USAGE}`);
    return 2;
  }
  return { scale, out: values.out, keep: values.keep ?? false };
}

type Log = (line: string) => void;
type Phase = <T>(label: string, work: () => Promise<T>) => Promise<T>;

/** Lines stamped with the time since the start, and a heartbeat while a phase runs long and quiet. */
function progressPrinter(): { log: Log; phase: Phase } {
  const started = performance.now();
  const log: Log = (line) => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
  const phase: Phase = async (label, work) => {
    const phaseStarted = performance.now();
    const elapsed = () => `${((performance.now() - phaseStarted) / 1000).toFixed(1)}s`;
    log(`${label} ...`);
    const heartbeat = setInterval(() => log(`${label}: still running after ${elapsed()}`), 15_000);
    try {
      const result = await work();
      log(`${label}: done in ${elapsed()}`);
      return result;
    } finally {
      clearInterval(heartbeat);
    }
  };
  return { log, phase };
}

function seedProgress(log: Log): (progress: SeedProgress) => void {
  let lastPrinted = 0;
  return (progress) => {
    if (!progress.done && progress.elapsedMs - lastPrinted < 5_000) return;
    lastPrinted = progress.elapsedMs;
    log(`  ${progress.table.padEnd(15)} ${progress.rows.toLocaleString('en-GB').padStart(10)} rows${progress.done ? '' : ' ...'}`);
  };
}

/** Undo steps, run last-first at the end or on Ctrl-C, each attempted even when another fails. */
function cleanupStack(log: Log) {
  const steps: (() => unknown)[] = [];
  return {
    add: (step: () => unknown) => steps.push(step),
    run: async () => {
      for (const step of steps.splice(0).reverse()) {
        try {
          await step();
        } catch (error) {
          log(`cleanup failed: ${(error as Error).message}`);
        }
      }
    },
  };
}

async function bench(options: Options, log: Log, phase: Phase, cleanup: ReturnType<typeof cleanupStack>): Promise<BenchReport> {
  const server = await openBenchServer(log);
  cleanup.add(() => server.stop());
  const postgresVersion = await withSql(server.adminUrl, async (sql) => (await sql<{ v: string }[]>`SELECT current_setting('server_version') AS v`)[0]!.v);
  log(`PostgreSQL ${postgresVersion} at ${server.description}`);

  const seeded = await phase(`ToteSys at scale ${options.scale}`, () => ensureSeededDatabase(server.adminUrl, options.scale, seedProgress(log)));
  const totalRows = Object.values(seeded.rows).reduce((sum, n) => sum + n, 0);
  log(`${seeded.seededNow ? 'seeded' : 'reusing'} ${seeded.name}: ${totalRows.toLocaleString('en-GB')} rows`);
  const source = await phase('copying it for this run', () => copyForRun(server.adminUrl, seeded.name));
  cleanup.add(() => source.drop());
  await phase('reading every table once, so that no step reads from disk', () => withSql(source.url, countRows));

  const workDir = mkdtempSync(path.join(os.tmpdir(), 'totesys-bench-'));
  cleanup.add(() => (options.keep ? log(`kept ${workDir} (local S3 data in s3/, COPY output in copy-*/)`) : rmSync(workDir, { recursive: true, force: true })));
  mkdirSync(path.join(workDir, 's3'));
  const s3 = await startLocalS3({ directory: path.join(workDir, 's3'), buckets: [BUCKET, PROCESSED_BUCKET] });
  cleanup.add(() => s3.stop());

  const extractEnv = {
    TOTESYS_DATABASE_URL: source.url,
    TOTESYS_SECRET_ID: '',
    INGESTION_BUCKET: BUCKET,
    ...localS3Environment(s3.endpoint),
  };
  const warehouseUrl = await createDatabase(server.adminUrl, `bench_warehouse_${process.pid}`);
  cleanup.add(() => dropDatabase(server.adminUrl, `bench_warehouse_${process.pid}`));
  const bareUrl = await createDatabase(server.adminUrl, `bench_bare_${process.pid}`);
  cleanup.add(() => dropDatabase(server.adminUrl, `bench_bare_${process.pid}`));
  const pipelineEnv = {
    ...extractEnv,
    PROCESSED_BUCKET,
    WAREHOUSE_DATABASE_URL: warehouseUrl,
    WAREHOUSE_SECRET_ID: '',
    TRANSFORM_MEMORY_LIMIT_MB: String(DUCKDB.memoryLimitMb),
    TRANSFORM_THREADS: String(DUCKDB.threads),
    LOAD_MEMORY_LIMIT_MB: String(DUCKDB.memoryLimitMb),
    LOAD_THREADS: String(DUCKDB.threads),
  };
  const client = localS3Client(s3.endpoint);
  Object.assign(process.env, S3RVER_CREDENTIALS);
  const step = <Output>(label: string, script: string, input: unknown, env?: Record<string, string>) =>
    phase(label, () => runStepProcess<Output>(script, input, { env, onProgress: (line) => log(`  ${line}`) }));

  const fullExtract = await step<ExtractStepOutput>('extract (full)', 'extract', null, extractEnv);
  const fullCopy = await step<CopyBaselineOutput>('baseline: COPY every row to a file', 'copy-baseline', {
    url: source.url,
    directory: path.join(workDir, 'copy-full'),
  });

  const full = await transformAndLoad('full', fullExtract.rows, fullExtract.batchId);

  const writes = activityWrites(seeded.rows);
  log(`activity: ${ACTIVITY_DEFINITION}`);
  const activity = await step<ActivityOutput>(`activity: ${writes.toLocaleString('en-GB')} writes`, 'activity', { url: source.url, writes });
  log(`  ${activity.rows.toLocaleString('en-GB')} rows inserted or changed, stamped from ${activity.startedAt}; ${activity.deleted} payments deleted`);

  const incrementalExtract = await step<ExtractStepOutput>('extract (incremental)', 'extract', null, extractEnv);
  const incrementalCopy = await step<CopyBaselineOutput>(`baseline: COPY rows stamped since ${activity.startedAt} to a file`, 'copy-baseline', {
    url: source.url,
    directory: path.join(workDir, 'copy-incremental'),
    changedSince: activity.startedAt,
  });

  const incremental = await transformAndLoad('incremental', incrementalExtract.rows, incrementalExtract.batchId);
  const verification = await step<VerifyStepOutput>('verify (whole warehouse, after the incremental run)', 'verify', null, pipelineEnv);

  // Not the bench's job to test the extract, but a timing of the wrong rows would mean nothing.
  const mismatches = [
    fullExtract.rows !== totalRows && `the full extract read ${fullExtract.rows} rows of ${totalRows}`,
    fullCopy.rows !== totalRows && `the full COPY read ${fullCopy.rows} rows of ${totalRows}`,
    incrementalExtract.rows !== activity.rows && `the incremental extract read ${incrementalExtract.rows} rows, the activity changed ${activity.rows}`,
    incrementalExtract.deleted !== activity.deleted && `the incremental extract found ${incrementalExtract.deleted} deletions, the activity made ${activity.deleted}`,
    verification.mismatchedRows !== 0 && `verification found ${verification.mismatchedRows} rows that differ`,
    incrementalCopy.rows !== activity.rows && `the incremental COPY read ${incrementalCopy.rows} rows, the activity changed ${activity.rows}`,
  ].filter((problem): problem is string => typeof problem === 'string');
  for (const problem of mismatches) log(`WARNING: ${problem}`);

  return {
    date: new Date().toISOString(),
    scale: options.scale,
    machine: machineInfo(postgresVersion),
    postgresServer: server.description,
    source: { database: seeded.name, seededNow: seeded.seededNow, rows: seeded.rows, totalRows },
    activity: { ...activity, definition: ACTIVITY_DEFINITION },
    steps: [
      stepRow('extract (full)', fullExtract, fullCopy),
      stepRow('transform (full)', full.transform, full.transformBaseline),
      stepRow('load (full)', full.load, full.loadBaseline),
      stepRow('extract (incremental)', incrementalExtract, incrementalCopy),
      stepRow('transform (incremental)', incremental.transform, incremental.transformBaseline),
      stepRow('load (incremental)', incremental.load, incremental.loadBaseline),
      stepRow('verify', verification, null),
    ],
  };

  /** Transform and Load of one batch, each beside its bare-engine baseline over the same files. */
  async function transformAndLoad(run: 'full' | 'incremental', sourceRows: number, batchId: string | null) {
    if (!batchId) throw new Error(`the ${run} extract committed no batch`);
    const transform = await step<TransformStepOutput>(`transform (${run})`, 'transform', { sourceRows }, pipelineEnv);
    const jsonl = path.join(workDir, `jsonl-${run}`);
    const ingested = await readManifest<IngestionManifest>(client, BUCKET, batchId);
    await downloadAll(client, BUCKET, Object.entries(ingested.tables).map(([table, entry]) => [entry.key, path.join(jsonl, `${table}.jsonl.gz`)]));
    const transformBaseline = await step<Measured>(`baseline: DuckDB read_json -> Parquet, same files`, 'transform-baseline', { directory: jsonl, ...DUCKDB });

    const load = await step<Measured>(`load (${run})`, 'load', null, pipelineEnv);
    const parquet = path.join(workDir, `parquet-${run}`);
    const processed = await readManifest<ProcessedManifest>(client, PROCESSED_BUCKET, batchId);
    await downloadAll(client, PROCESSED_BUCKET, Object.entries(processed.tables).map(([table, entry]) => [entry.key, path.join(parquet, `${table}.parquet`)]));
    const loadBaseline = await step<Measured>('baseline: COPY FROM STDIN of the same rows into unindexed tables', 'load-baseline', { url: bareUrl, directory: parquet });
    return { transform, transformBaseline, load, loadBaseline };
  }
}

async function downloadAll(s3: S3Client, bucket: string, objects: [string, string][]): Promise<void> {
  for (const [key, file] of objects) await downloadObject(s3, bucket, key, file);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (typeof options === 'number') {
    process.exitCode = options;
    return;
  }
  const { log, phase } = progressPrinter();
  const cleanup = cleanupStack(log);
  process.once('SIGINT', () => {
    log('interrupted: cleaning up');
    void cleanup.run().finally(() => process.exit(130));
  });
  try {
    const report = await bench(options, log, phase, cleanup);
    const { machine } = report;
    console.log(`\nscale ${report.scale}, ${report.source.totalRows.toLocaleString('en-GB')} rows; ${machine.cpus} x ${machine.cpuModel}, ${(machine.totalMemoryMb / 1024).toFixed(0)} GB; Node ${machine.node}; PostgreSQL ${machine.postgres}`);
    console.log(`${formatTable(report.steps)}\n`);
    if (options.out) {
      writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
      log(`results written to ${options.out}`);
    }
  } finally {
    await cleanup.run();
  }
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
