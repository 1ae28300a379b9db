import type { S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Sql } from 'postgres';
import { extractChangedRows, type ExtractDependencies } from '../../functions/extract/extract-changed-rows';
import { loadPendingBatches, type LoadDependencies } from '../../functions/load/load-batches';
import type { DuckDbSettings } from '../../functions/shared/duckdb-session';
import type { ExtractOutput, LoadOutput, PipelineStep, TransformOutput } from '../../functions/shared/step-contract';
import { transformPendingBatches, type TransformDependencies } from '../../functions/transform/transform-batches';
import { startLocalEnvironment, type LocalEnvironment } from '../../scripts/local/environment';
import type { StepHandler } from '../../scripts/local/execution';
import { inProcessHandlers } from '../../scripts/local/step-handlers';
import { loadSample } from '../../scripts/totesys/sample';
import { createTotesysSchema } from '../../scripts/totesys/schema';
import type { TestDatabase } from './database';
import { freshBucket, useLocalS3, type TestS3 } from './local-s3';

/**
 * The pipeline as the tests run it. In process, for the step suites: a lake of the suite's own on
 * a local S3 server (useTestLake), with Extract, Transform and Load over it, step by step or as
 * one run. As `npm start` runs it, for the state-machine tests: the real definition over the real
 * step handlers, with a ToteSys holding the real sample, a local environment (its own S3 server
 * and buckets under a temp PIPELINE_HOME) pointed at a given ToteSys and warehouse, the real
 * handlers loaded afresh for it, fault injection around them, and the warehouse as comparable text.
 */

export const SAMPLE_DIR = path.join(__dirname, '../fixtures/totesys-sample');

/** Creates the ToteSys schema and loads the real sample (33 sales orders, 294 rows in all). */
export async function seedSampleTotesys(sql: Sql): Promise<void> {
  await createTotesysSchema(sql);
  await loadSample(sql, SAMPLE_DIR);
}

/** What one run of the three steps returned. */
export interface PipelineRun {
  extract: ExtractOutput;
  transform: TransformOutput;
  load: LoadOutput;
}

/** Where one run of the three steps reads and writes: a lake, the DuckDB settings of its steps, a warehouse. */
export interface PipelineStores {
  readonly s3: S3Client;
  readonly ingestionBucket: string;
  readonly processedBucket: string;
  readonly duckdb: DuckDbSettings;
  readonly warehouse: Sql;
}

/** One run of the pipeline in process: Extract from `totesys`, Transform (with `transform` in its dependencies), Load. */
export async function runThreeSteps(totesys: Sql, stores: PipelineStores, transform: Partial<TransformDependencies> = {}): Promise<PipelineRun> {
  const { s3, ingestionBucket, processedBucket, duckdb, warehouse } = stores;
  const extract = await extractChangedRows({ totesys, s3, ingestionBucket });
  const transformed = await transformPendingBatches({ s3, ingestionBucket, processedBucket, duckdb, ...transform });
  const load = await loadPendingBatches({ warehouse, s3, processedBucket, duckdb });
  return { extract, transform: transformed, load };
}

/** A lake of the calling suite's own on a local S3 server, and the steps' dependencies over it. */
export interface TestLake extends TestS3 {
  /** A client of the server, new with each fresh(). */
  readonly s3: S3Client;
  readonly ingestionBucket: string;
  readonly processedBucket: string;
  /** The lake's work folder: the DuckDB sessions' space. */
  readonly workRoot: string;
  /** Modest DuckDB resources over the work folder, for Transform and Load alike. */
  readonly duckdb: DuckDbSettings;
  /** Extract from `totesys` into the lake. */
  extractDeps(totesys: Sql): ExtractDependencies;
  readonly transformDeps: TransformDependencies;
  /** Load into the warehouse given to useTestLake (the current one, where it is made for each test). */
  readonly loadDeps: LoadDependencies;
  /** A new lake: empty ingestion and processed buckets, an empty work folder. Call it in beforeEach or beforeAll. */
  fresh(): Promise<void>;
  /** One run of the three steps from `totesys` into the warehouse, Transform with `transform` in its dependencies. */
  runPipeline(totesys: Sql, transform?: Partial<TransformDependencies>): Promise<PipelineRun>;
}

/**
 * Starts a local S3 server for the calling suite and gives it a lake there: buckets named
 * `<name>-ingestion-…` and `<name>-processed-…`, a work folder, and the steps' dependencies over
 * them, Load's into `warehouse`. The lake exists once `fresh()` has run; each call makes a new one
 * (the previous work folder is removed then, the last after the suite).
 */
export function useTestLake(name: string, options: { warehouse?: TestDatabase; threads?: number } = {}): TestLake {
  const server = useLocalS3([]);
  let current: { s3: S3Client; ingestionBucket: string; processedBucket: string; workRoot: string } | undefined;
  const lake = () => {
    if (!current) throw new Error(`the ${name} lake is used before lake.fresh() (call it in beforeAll or beforeEach)`);
    return current;
  };
  const removeWorkRoot = () => {
    if (current) rmSync(current.workRoot, { recursive: true, force: true });
  };
  afterAll(removeWorkRoot);
  const duckdb = (): DuckDbSettings => ({ memoryLimitMb: 256, threads: options.threads ?? 2, workRoot: lake().workRoot });
  const transformDeps = (): TransformDependencies => {
    const { s3, ingestionBucket, processedBucket } = lake();
    return { s3, ingestionBucket, processedBucket, duckdb: duckdb() };
  };
  const loadDeps = (): LoadDependencies => {
    if (!options.warehouse) throw new Error(`the ${name} lake has no warehouse: give useTestLake one`);
    const { s3, processedBucket } = lake();
    return { warehouse: options.warehouse.sql, s3, processedBucket, duckdb: duckdb() };
  };
  return {
    get endpoint() {
      return server.endpoint;
    },
    client: () => server.client(),
    env: () => server.env(),
    get s3() {
      return lake().s3;
    },
    get ingestionBucket() {
      return lake().ingestionBucket;
    },
    get processedBucket() {
      return lake().processedBucket;
    },
    get workRoot() {
      return lake().workRoot;
    },
    get duckdb() {
      return duckdb();
    },
    extractDeps: (totesys) => ({ totesys, s3: lake().s3, ingestionBucket: lake().ingestionBucket }),
    get transformDeps() {
      return transformDeps();
    },
    get loadDeps() {
      return loadDeps();
    },
    fresh: async () => {
      removeWorkRoot();
      const s3 = server.client();
      const workRoot = mkdtempSync(path.join(tmpdir(), `${name}-work-`));
      current = { s3, workRoot, ingestionBucket: await freshBucket(s3, `${name}-ingestion`), processedBucket: await freshBucket(s3, `${name}-processed`) };
    },
    runPipeline: (totesys, transform = {}) => runThreeSteps(totesys, { ...transformDeps(), warehouse: loadDeps().warehouse }, transform),
  };
}

export interface LocalPipeline {
  /** PIPELINE_HOME: execution records, notifications.jsonl and the S3 server's files. */
  readonly home: string;
  /** The steps' configuration, as their Lambdas' environment would hold it. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * The real step handlers, loaded afresh with this pipeline's configuration in process.env (each
   * handler module reads its configuration once, as a Lambda container does, so modules loaded
   * for another pipeline must not be reused).
   */
  realHandlers(): Record<PipelineStep, StepHandler>;
  stop(): Promise<void>;
}

/** The step settings the tests add to `npm start`'s: modest DuckDB resources, quiet logs. */
const TEST_STEP_ENV = {
  TRANSFORM_THREADS: '2',
  LOAD_THREADS: '2',
  TRANSFORM_MEMORY_LIMIT_MB: '512',
  LOAD_MEMORY_LIMIT_MB: '512',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
} as const;

/** Starts a local environment under a fresh temp home, over the given ToteSys and warehouse. */
export async function startLocalPipeline(databases: { totesysUrl: string; warehouseUrl: string }): Promise<LocalPipeline> {
  const home = mkdtempSync(path.join(tmpdir(), 'totesys-pipeline-home-'));
  let environment: LocalEnvironment;
  try {
    environment = await startLocalEnvironment({ home, totesysUrl: databases.totesysUrl, warehouseUrl: databases.warehouseUrl });
  } catch (error) {
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
  const env = { ...environment.stepEnv, ...TEST_STEP_ENV };
  return {
    home,
    env,
    realHandlers: () => {
      // The handlers are required lazily, on their first call: clearing the registry here makes
      // that call load fresh modules, which read the configuration set now.
      jest.resetModules();
      Object.assign(process.env, env);
      return inProcessHandlers();
    },
    stop: async () => {
      await environment.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A step handler that counts its calls and the payloads it was given. */
export interface CountedHandler {
  readonly handler: StepHandler;
  readonly calls: () => number;
  readonly payloads: Record<string, unknown>[];
}

/**
 * Wraps a handler: `behaviour` decides each call (1-based) what happens, given the real handler;
 * by default every call goes to the real one.
 */
export function counted(
  real: StepHandler,
  behaviour: (call: number, real: StepHandler, payload: Record<string, unknown>) => Promise<unknown> = (_call, handler, payload) => handler(payload),
): CountedHandler {
  let calls = 0;
  const payloads: Record<string, unknown>[] = [];
  return {
    handler: async (payload) => {
      calls += 1;
      payloads.push(payload);
      return behaviour(calls, real, payload);
    },
    calls: () => calls,
    payloads,
  };
}

/** An Error with the given name, as a Lambda reports its error type to Step Functions. */
export function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** A handler that must never be called: it fails the step loudly, and the caller counts on `calls`. */
export const neverCalled = (step: PipelineStep): CountedHandler =>
  counted(async () => {
    throw new Error(`the ${step} handler was called`);
  });

/**
 * The warehouse as text, to compare two warehouses: every table and view of its schema (star
 * schemas, current_* views, recorded deletions) and of schema pipeline (its bookkeeping), each
 * row as JSON, ordered. Left out: lake ids and the lake's source database (each lake is born
 * with an id of its own), record ids (a serial's values depend on the order and the
 * attempts of inserts, not on the data) and timestamps with a time zone (when a batch was loaded,
 * a migration applied or a deletion seen).
 */
export async function dumpWarehouseContent(warehouse: Sql): Promise<Record<string, string[]>> {
  const columns = await warehouse<{ table_schema: string; table_name: string; column_name: string; data_type: string }[]>`
    SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns
    WHERE table_schema IN (current_schema(), 'pipeline')
    ORDER BY table_schema, table_name, ordinal_position`;
  const excluded = new Map<string, string[]>();
  for (const column of columns) {
    const name = column.table_schema === 'pipeline' ? `pipeline.${column.table_name}` : column.table_name;
    const recordId = column.column_name.endsWith('record_id');
    const instant = column.data_type === 'timestamp with time zone';
    const lakeIdentity = column.column_name === 'lake_id' || (name === 'pipeline.lakes' && column.column_name === 'source');
    if (!excluded.has(name)) excluded.set(name, []);
    if (recordId || instant || lakeIdentity) excluded.get(name)!.push(column.column_name);
  }
  const dump: Record<string, string[]> = {};
  for (const [table, drop] of excluded) {
    const without = drop.map((name) => ` - '${name}'`).join('');
    const rows = await warehouse.unsafe<{ r: string }[]>(`SELECT (to_jsonb(t)${without})::text AS r FROM ${table} t ORDER BY 1`);
    dump[table] = rows.map((row) => row.r);
  }
  return dump;
}
