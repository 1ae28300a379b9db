import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Sql } from 'postgres';
import type { PipelineStep } from '../../functions/shared/step-contract';
import { startLocalEnvironment, type LocalEnvironment } from '../../scripts/local/environment';
import type { StepHandler } from '../../scripts/local/execution';
import { inProcessHandlers } from '../../scripts/local/step-handlers';
import { loadSample } from '../../scripts/totesys/sample';
import { createTotesysSchema } from '../../scripts/totesys/schema';

/**
 * What the state-machine tests need to run the real definition over the real step handlers, as
 * `npm start` does: a ToteSys holding the real sample, a local environment (its own S3 server and
 * buckets under a temp PIPELINE_HOME) pointed at a given ToteSys and warehouse, the real handlers
 * loaded afresh for it, fault injection around them, and the warehouse as comparable text.
 */

export const SAMPLE_DIR = path.join(__dirname, '../fixtures/totesys-sample');

/** Creates the ToteSys schema and loads the real sample (33 sales orders, 294 rows in all). */
export async function seedSampleTotesys(sql: Sql): Promise<void> {
  await createTotesysSchema(sql);
  await loadSample(sql, SAMPLE_DIR);
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
