import type { Context } from 'aws-lambda';
import { randomBytes } from 'node:crypto';
import postgres, { type Sql } from 'postgres';
import { loadPendingBatches } from '../../functions/load/load-batches';
import { migrateWarehouse } from '../../functions/load/migrate';
import { readDatabaseTimeouts } from '../../functions/shared/config';
import { withDatabase } from '../../functions/shared/database';
import { ConfigurationError } from '../../functions/shared/errors';
import { transformPendingBatches } from '../../functions/transform/transform-batches';
import { databaseUrl } from '../../scripts/local/postgres';
import { useTestDatabase } from '../support/database';
import { dumpWarehouseContent, seedSampleTotesys, useTestLake } from '../support/local-pipeline';
import { freshBucket, listKeys } from '../support/local-s3';

/**
 * What a step does when its database fails under it, on real PostgreSQL: a connection terminated
 * (pg_terminate_backend) in the middle of Extract's COPY, Load's COPY or Load's statement, or of
 * Verify's reads; a lock held past lock_timeout; a database or role that does not exist. Each
 * failure is timed deterministically: the statement is made to wait on an advisory lock the
 * test holds (a row-level security policy on ToteSys, a trigger in the warehouse), and the test
 * acts once pg_stat_activity shows it waiting.
 */

const lambdaContext = { functionName: 'transient', awsRequestId: 'test-request', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

/** The advisory lock key the gates wait on (advisory locks are per database). */
const GATE_KEY = 727_001;
/** The sales order the gates stop at: the sample's 33 orders and 150 added ones have streamed by then. */
const GATED_ORDER = 1150;

type Step = 'extract' | 'load' | 'verify';

describe('transient database failures', () => {
  const totesys = useTestDatabase('transient_totesys');
  const clean = useTestDatabase('transient_clean');
  const warehouse = useTestDatabase('transient_warehouse', { each: true });
  /** The clean run's lake, loaded into `clean`. */
  const lake = useTestLake('transient', { warehouse: clean, threads: 1 });
  /** The warehouse content the clean run ends with. */
  let cleanContent: Record<string, string[]>;
  /** A ToteSys role that row-level security applies to (a superuser bypasses it), and its URL. */
  let readerUrl: string;
  const reader = `transient_reader_${process.pid}_${randomBytes(3).toString('hex')}`;
  const readerPassword = randomBytes(12).toString('hex');
  let savedEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    await seedSampleTotesys(totesys.sql);
    // More sales orders after the sample's, so that the gate stops a COPY well into its rows.
    await totesys.sql`INSERT INTO sales_order
      SELECT (jsonb_populate_record(s, jsonb_build_object('sales_order_id', g))).*
      FROM sales_order s CROSS JOIN generate_series(1001, 1200) g WHERE s.sales_order_id = 2`;
    await totesys.sql.unsafe(`
      CREATE FUNCTION transient_gate(key int) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        IF key = ${GATED_ORDER} THEN PERFORM pg_advisory_xact_lock_shared(${GATE_KEY}); END IF;
        RETURN true;
      END $$;
      ALTER TABLE sales_order ENABLE ROW LEVEL SECURITY;
      CREATE POLICY transient_gate ON sales_order FOR SELECT USING (transient_gate(sales_order_id));
      CREATE ROLE ${reader} LOGIN PASSWORD '${readerPassword}';
      GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${reader};`);
    const url = new URL(totesys.url);
    url.username = reader;
    url.password = readerPassword;
    readerUrl = url.toString();

    // The clean run: the superuser reads through the policy without stopping.
    await lake.fresh();
    await lake.runPipeline(totesys.sql);
    cleanContent = await contentOf(clean.sql);
    expect(cleanContent.fact_sales_order).toHaveLength(233);
  });

  afterAll(async () => {
    // The role is the server's, not the database's: revoke its grants (where the database is still there), then drop it.
    const admin = postgres(process.env.TEST_POSTGRES_URL!, { max: 1, onnotice: () => {} });
    try {
      const [own] = await admin`SELECT 1 FROM pg_database WHERE datname = ${new URL(totesys.url).pathname.slice(1)}`;
      if (own) {
        const inTotesys = postgres(totesys.url, { max: 1, onnotice: () => {} });
        await inTotesys.unsafe(`DROP OWNED BY ${reader}`).finally(() => inTotesys.end());
      }
      await admin.unsafe(`DROP ROLE IF EXISTS ${reader}`);
    } finally {
      await admin.end();
    }
  });

  beforeEach(() => {
    savedEnv = { ...process.env };
  });
  afterEach(() => {
    process.env = { ...savedEnv };
  });

  /** Runs a step's real Lambda handler, loaded afresh (it reads its configuration once) with `env`. */
  function invoke(step: Step, env: Record<string, string>, input: Record<string, unknown> = {}): Promise<unknown> {
    jest.resetModules();
    Object.assign(process.env, lake.env(), { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true', LOAD_THREADS: '1', LOAD_MEMORY_LIMIT_MB: '256', LOAD_WORK_DIR: lake.workRoot }, env);
    const { handler } = require(`../../functions/${step}/handler`) as { handler: (input: unknown, context: Context) => Promise<unknown> };
    const running = handler(input, lambdaContext);
    running.catch(() => {}); // awaited by the test; not an unhandled rejection meanwhile
    return running;
  }

  /** Holds the advisory lock the gates wait on, in `database`, until `open()`. */
  async function closeGate(sql: Sql): Promise<{ open(): Promise<void> }> {
    const holder = await sql.reserve();
    await holder`SELECT pg_advisory_lock(${GATE_KEY})`;
    return {
      open: async () => {
        await holder`SELECT pg_advisory_unlock(${GATE_KEY})`;
        holder.release();
      },
    };
  }

  /** The backend of `database` that waits on a lock in a statement LIKE `pattern`. */
  async function waitingBackend(admin: Sql, database: string, pattern: string): Promise<number> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [row] = await admin<{ pid: number }[]>`
        SELECT pid FROM pg_stat_activity
        WHERE datname = ${database} AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE ${pattern}`;
      if (row) return row.pid;
      if (Date.now() > deadline) throw new Error(`no statement LIKE ${pattern} waited on a lock in ${database}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Runs `work` while the gate is closed, terminates the backend of `db` once it waits on the gate
   * in a statement LIKE `pattern`, and returns what `work` failed with (undefined if it succeeded).
   */
  async function failureWhenTerminated(db: { sql: Sql; url: string }, pattern: string, work: () => Promise<unknown>): Promise<unknown> {
    const gate = await closeGate(db.sql);
    try {
      const running = work();
      running.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
      await terminate(db.sql, await waitingBackend(db.sql, nameOf(db.url), pattern));
      return await running.then(() => undefined, (error: unknown) => error);
    } finally {
      await gate.open();
    }
  }

  async function terminate(admin: Sql, pid: number): Promise<void> {
    const [row] = await admin<{ done: boolean }[]>`SELECT pg_terminate_backend(${pid}) AS done`;
    expect(row?.done).toBe(true);
  }

  /**
   * The warehouse content to compare with the clean run's: the same but for the bucket names the
   * lake was loaded from (a retried Extract writes to buckets of its own).
   */
  async function contentOf(sql: Sql): Promise<Record<string, string[]>> {
    const content = await dumpWarehouseContent(sql);
    content['pipeline.lakes'] = content['pipeline.lakes']!.map((row) => {
      const { ingestion: _ingestion, processed: _processed, ...rest } = JSON.parse(row) as Record<string, unknown>;
      return JSON.stringify(rest);
    });
    return content;
  }

  const nameOf = (url: string) => new URL(url).pathname.slice(1);
  const where = (url: string) => `127\\.0\\.0\\.1:${new URL(url).port || 5432}/${nameOf(url)}`;
  const noSecrets = async (): Promise<string> => {
    throw new Error('no secret is read in these tests');
  };

  it('a ToteSys connection terminated mid-COPY fails Extract as retryable, naming ToteSys, with no batch committed; the retry ends as a clean run', async () => {
    const bucket = await freshBucket(lake.s3, 'ingestion');
    const env = { TOTESYS_DATABASE_URL: readerUrl, INGESTION_BUCKET: bucket };
    const failure = await failureWhenTerminated(totesys, 'COPY (%', () => invoke('extract', env));

    expect(failure).toMatchObject({ name: 'DatabaseUnavailableError' });
    expect((failure as Error).message).toMatch(new RegExp(`^ToteSys database at ${where(totesys.url)} dropped the connection`));
    expect((failure as Error).message).not.toContain(readerPassword);
    // Nothing committed: no manifest, so the retry extracts the same batch again.
    expect(await listKeys(lake.s3, bucket, 'manifests/')).toEqual([]);

    await expect(invoke('extract', env)).resolves.toMatchObject({ batchId: '0000000001', totalRows: 294 + 200 });
    const processed = await freshBucket(lake.s3, 'processed');
    await transformPendingBatches({ s3: lake.s3, ingestionBucket: bucket, processedBucket: processed, duckdb: lake.duckdb });
    await loadPendingBatches({ warehouse: warehouse.sql, s3: lake.s3, processedBucket: processed, duckdb: lake.duckdb });
    expect(await contentOf(warehouse.sql)).toEqual(cleanContent);
  });

  /** A trigger that makes inserts into `table` wait at the gated sales order (or at once, for a table without one). */
  async function gateInserts(sql: Sql, table: string, condition: string): Promise<void> {
    await sql.unsafe(`
      CREATE FUNCTION transient_gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF ${condition} THEN PERFORM pg_advisory_xact_lock_shared(${GATE_KEY}); END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER transient_gate BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION transient_gate();`);
  }

  it("a warehouse connection terminated mid-COPY fails Load as retryable, naming the warehouse, with nothing loaded; the retry ends as a clean run", async () => {
    await migrateWarehouse(warehouse.sql);
    await gateInserts(warehouse.sql, 'fact_sales_order', `NEW.sales_order_id = ${GATED_ORDER}`);
    // With bulkRows 1 every table's first load is a COPY straight into it (the big-first-load path).
    const load = () =>
      withDatabase('Warehouse', { url: warehouse.url }, noSecrets, (sql) => loadPendingBatches({ ...lake.loadDeps, warehouse: sql, bulkRows: 1 }));
    const failure = await failureWhenTerminated(warehouse, 'COPY fact_sales_order %', () => load());

    expect(failure).toMatchObject({ name: 'DatabaseUnavailableError' });
    expect((failure as Error).message).toMatch(new RegExp(`^Warehouse database at ${where(warehouse.url)} dropped the connection`));
    expect((await warehouse.sql`SELECT count(*)::int AS n FROM pipeline.load_ledger`)[0]!.n).toBe(0);
    expect((await warehouse.sql`SELECT count(*)::int AS n FROM dim_staff`)[0]!.n).toBe(0);

    await expect(load()).resolves.toMatchObject({ loadedBatchIds: ['0000000001'] });
    expect(await contentOf(warehouse.sql)).toEqual(cleanContent);
  });

  it('a warehouse connection terminated mid-statement fails the Load Lambda as retryable, naming the warehouse; the retry ends as a clean run', async () => {
    await migrateWarehouse(warehouse.sql);
    await gateInserts(warehouse.sql, 'dim_counterparty', 'true');
    const env = { WAREHOUSE_DATABASE_URL: warehouse.url, PROCESSED_BUCKET: lake.processedBucket };
    const failure = await failureWhenTerminated(warehouse, 'INSERT INTO dim_counterparty %', () => invoke('load', env));

    expect(failure).toMatchObject({ name: 'DatabaseUnavailableError' });
    expect((failure as Error).message).toMatch(new RegExp(`^Warehouse database at ${where(warehouse.url)} dropped the connection`));
    expect((await warehouse.sql`SELECT count(*)::int AS n FROM pipeline.load_ledger`)[0]!.n).toBe(0);

    await expect(invoke('load', env)).resolves.toMatchObject({ loadedBatchIds: ['0000000001'] });
    expect(await contentOf(warehouse.sql)).toEqual(cleanContent);
  });

  it('a table locked by another session past DATABASE_LOCK_TIMEOUT_MS fails Load at once as retryable; the retry ends as a clean run', async () => {
    await migrateWarehouse(warehouse.sql);
    const env = { WAREHOUSE_DATABASE_URL: warehouse.url, PROCESSED_BUCKET: lake.processedBucket, DATABASE_LOCK_TIMEOUT_MS: '500' };
    const other = await warehouse.sql.reserve();
    let failure: unknown;
    let waitedMs = 0;
    try {
      await other`BEGIN`;
      await other`LOCK TABLE fact_sales_order IN ACCESS EXCLUSIVE MODE`;
      const started = Date.now();
      failure = await invoke('load', env).then(() => undefined, (error: unknown) => error);
      waitedMs = Date.now() - started;
    } finally {
      await other`ROLLBACK`;
      other.release();
    }

    expect(failure).toMatchObject({ name: 'DatabaseUnavailableError' });
    expect((failure as Error).message).toMatch(
      new RegExp(`^Warehouse database at ${where(warehouse.url)}: a statement waited longer than lock_timeout \\(500 ms, DATABASE_LOCK_TIMEOUT_MS\\)`),
    );
    // The whole invocation, module loading and DuckDB included: far from the one-minute default, let alone unbounded.
    expect(waitedMs).toBeLessThan(20_000);
    expect((await warehouse.sql`SELECT count(*)::int AS n FROM pipeline.load_ledger`)[0]!.n).toBe(0);

    await expect(invoke('load', env)).resolves.toMatchObject({ loadedBatchIds: ['0000000001'] });
    expect(await contentOf(warehouse.sql)).toEqual(cleanContent);
  });

  it('a statement past DATABASE_STATEMENT_TIMEOUT_MS fails Extract as retryable, naming ToteSys and the bound', async () => {
    const bucket = await freshBucket(lake.s3, 'ingestion');
    const gate = await closeGate(totesys.sql);
    let failure: unknown;
    try {
      const extract = invoke('extract', { TOTESYS_DATABASE_URL: readerUrl, INGESTION_BUCKET: bucket, DATABASE_STATEMENT_TIMEOUT_MS: '500' });
      failure = await extract.then(() => undefined, (error: unknown) => error);
    } finally {
      await gate.open();
    }
    expect(failure).toMatchObject({ name: 'DatabaseUnavailableError' });
    expect((failure as Error).message).toMatch(
      new RegExp(`^ToteSys database at ${where(totesys.url)}: a statement ran longer than statement_timeout \\(500 ms, DATABASE_STATEMENT_TIMEOUT_MS\\)`),
    );
    expect(await listKeys(lake.s3, bucket, 'manifests/')).toEqual([]);
  });

  it('a lock timeout while two databases are at work names both, since either may have raised it', async () => {
    const other = await totesys.sql.reserve();
    const timeouts = { lockTimeoutMs: 200, statementTimeoutMs: 0 };
    let failure: unknown;
    try {
      await other`BEGIN`;
      await other`LOCK TABLE currency IN ACCESS EXCLUSIVE MODE`;
      // As Verify holds them: the warehouse's work runs inside ToteSys's, and reads both.
      failure = await withDatabase('ToteSys', { url: totesys.url }, noSecrets, (source) =>
        withDatabase('Warehouse', { url: clean.url }, noSecrets, async (target) => {
          await target`SELECT count(*) FROM dim_currency`;
          return source`SELECT count(*) FROM currency`;
        }, timeouts), timeouts,
      ).then(() => undefined, (error: unknown) => error);
    } finally {
      await other`ROLLBACK`;
      other.release();
    }
    expect(failure).toMatchObject({ name: 'DatabaseUnavailableError' });
    expect((failure as Error).message).toMatch(
      new RegExp(`^ToteSys database at ${where(totesys.url)} or Warehouse database at ${where(clean.url)}: a statement waited longer than lock_timeout \\(200 ms`),
    );
  });

  it('malformed bounds are configuration errors naming the variable', () => {
    expect(() => readDatabaseTimeouts({ DATABASE_LOCK_TIMEOUT_MS: 'soon' })).toThrow(/^DATABASE_LOCK_TIMEOUT_MS must be a whole number of milliseconds/);
    expect(() => readDatabaseTimeouts({ DATABASE_STATEMENT_TIMEOUT_MS: '-1' })).toThrow(ConfigurationError);
    expect(readDatabaseTimeouts({})).toEqual({ lockTimeoutMs: 60_000, statementTimeoutMs: 600_000 });
    expect(readDatabaseTimeouts({ DATABASE_LOCK_TIMEOUT_MS: '0', DATABASE_STATEMENT_TIMEOUT_MS: '1500' })).toEqual({ lockTimeoutMs: 0, statementTimeoutMs: 1500 });
  });

  it('a ToteSys connection terminated during Verify names ToteSys, not the warehouse Verify also holds', async () => {
    const env = { TOTESYS_DATABASE_URL: readerUrl, WAREHOUSE_DATABASE_URL: clean.url, INGESTION_BUCKET: lake.ingestionBucket };
    const failure = await failureWhenTerminated(totesys, '%sales_order%', () => invoke('verify', env));
    expect(failure).toMatchObject({ name: 'DatabaseUnavailableError' });
    expect((failure as Error).message).toMatch(new RegExp(`^ToteSys database at ${where(totesys.url)} dropped the connection`));
  });

  describe('a database or role that does not exist is a configuration error that says how to create it', () => {
    const missing = () => databaseUrl(process.env.TEST_POSTGRES_URL!, `transient_missing_${process.pid}`);

    it('ToteSys', async () => {
      const failure = await invoke('extract', { TOTESYS_DATABASE_URL: missing(), INGESTION_BUCKET: lake.ingestionBucket }).catch((error: unknown) => error);
      expect(failure).toMatchObject({ name: 'ConfigurationError' });
      const message = (failure as Error).message;
      expect(message).toMatch(new RegExp(`^ToteSys database at ${where(missing())}: database "transient_missing_\\d+" does not exist\\.`));
      expect(message).toContain(`createdb -h 127.0.0.1 -p ${new URL(missing()).port || 5432} transient_missing_${process.pid}`);
      expect(message).toContain('npm run seed');
      expect(message).toContain('TOTESYS_DATABASE_URL');
    });

    it('the warehouse', async () => {
      const failure = await invoke('load', { WAREHOUSE_DATABASE_URL: missing(), PROCESSED_BUCKET: lake.processedBucket }).catch((error: unknown) => error);
      expect(failure).toMatchObject({ name: 'ConfigurationError' });
      const message = (failure as Error).message;
      expect(message).toMatch(new RegExp(`^Warehouse database at ${where(missing())}: database "transient_missing_\\d+" does not exist\\.`));
      expect(message).toContain(`createdb -h 127.0.0.1 -p ${new URL(missing()).port || 5432} transient_missing_${process.pid}`);
      expect(message).toContain("Load's migrations");
      expect(message).toContain('WAREHOUSE_DATABASE_URL');
    });

    it('a role, never repeating the password', async () => {
      const url = new URL(totesys.url);
      url.username = `transient_nobody_${process.pid}`;
      url.password = 'not-a-real-password';
      const failure = await invoke('extract', { TOTESYS_DATABASE_URL: url.toString(), INGESTION_BUCKET: lake.ingestionBucket }).catch((error: unknown) => error);
      expect(failure).toMatchObject({ name: 'ConfigurationError' });
      const message = (failure as Error).message;
      expect(message).toMatch(new RegExp(`^ToteSys database at ${where(totesys.url)}: `));
      expect(message).toContain('TOTESYS_DATABASE_URL');
      expect(message).not.toContain('not-a-real-password');
    });
  });
});
