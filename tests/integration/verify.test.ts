import type { Context } from 'aws-lambda';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadPendingBatches } from '../../functions/load/load-batches';
import { localS3Client } from '../../scripts/local/s3';
import { differingBuckets, findDifferentKeys, readBucketSums } from '../../functions/verify/compare-rows';
import type { TableVerification, VerificationResult } from '../../functions/verify/report';
import { verifyWarehouse } from '../../functions/verify/verify-warehouse';
import { LOCAL_BUCKETS, startLocalEnvironment } from '../../scripts/local/environment';
import { useTestDatabase } from '../support/database';
import { runThreeSteps, seedSampleTotesys, useTestLake } from '../support/local-pipeline';

/**
 * `npm run verify` on real PostgreSQL and a real local S3 server, over a warehouse the real
 * Extract, Transform and Load filled from the real ToteSys sample (33 sales orders, 294 rows).
 */
describe('verify: the warehouse against ToteSys as of the last loaded batch', () => {
  const totesys = useTestDatabase('verify_totesys', { each: true });
  const warehouse = useTestDatabase('verify_warehouse', { each: true });
  const lake = useTestLake('verify', { warehouse });

  beforeEach(async () => {
    await lake.fresh();
    await seedSampleTotesys(totesys.sql);
  });

  const runPipeline = () => lake.runPipeline(totesys.sql);
  const verify = () => verifyWarehouse({ totesys: totesys.sql, warehouse: warehouse.sql, s3: lake.s3, ingestionBucket: lake.ingestionBucket });

  /** Every table's counts, by table. */
  const countsOf = (result: VerificationResult) =>
    Object.fromEntries(result.tables.map((t) => [t.table, [t.compared, t.missing, t.extra, t.different, t.changedSince]]));
  const table = (result: VerificationResult, name: string): TableVerification => result.tables.find((t) => t.table === name)!;

  /** The sample's row count per table, all compared and equal: [compared, missing, extra, different, changed since]. */
  const cleanSample = (days: number) => ({
    dim_date: [days, 0, 0, 0, 0],
    dim_staff: [20, 0, 0, 0, 0],
    dim_location: [30, 0, 0, 0, 0],
    dim_currency: [3, 0, 0, 0, 0],
    dim_design: [50, 0, 0, 0, 0],
    dim_counterparty: [20, 0, 0, 0, 0],
    dim_transaction: [38, 0, 0, 0, 0],
    dim_payment_type: [4, 0, 0, 0, 0],
    fact_sales_order: [33, 0, 0, 0, 0],
    fact_purchase_order: [50, 0, 0, 0, 0],
    fact_payment: [38, 0, 0, 0, 0],
  });

  it('finds a freshly loaded warehouse equal to ToteSys, every row of every table compared', async () => {
    await runPipeline();
    const result = await verify();
    const [lakeRow] = await warehouse.sql<{ lake_id: string }[]>`SELECT lake_id FROM pipeline.lakes`;
    expect(result).toMatchObject({ batchId: '0000000001', lakeId: lakeRow!.lake_id, mismatchedRows: 0 });
    // The sample's dates run from 2022-11-03 (the first created_at) to 2022-12-08 (the last agreed delivery).
    const [range] = await warehouse.sql<{ first: string; last: string }[]>`SELECT min(date_id)::text AS first, max(date_id)::text AS last FROM dim_date`;
    expect(range).toEqual({ first: '2022-11-03', last: '2022-12-08' });
    expect(countsOf(result)).toEqual(cleanSample(36));
    expect(result.tables.every((t) => t.warehouseRows === t.compared && t.deletedKept === 0)).toBe(true);
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it('names the table, the key and the columns of every row corrupted by hand in the warehouse, and nothing else', async () => {
    await runPipeline();
    // A second version of sales order 3, so that an older version can be corrupted too: only the current one counts.
    await totesys.sql`UPDATE sales_order SET units_sold = units_sold + 1 WHERE sales_order_id = 3`;
    await runPipeline();
    await warehouse.sql.unsafe(`
      UPDATE fact_sales_order SET units_sold = units_sold + 100
        WHERE sales_record_id = (SELECT max(sales_record_id) FROM fact_sales_order WHERE sales_order_id = 2);
      UPDATE fact_sales_order SET units_sold = 0
        WHERE sales_record_id = (SELECT min(sales_record_id) FROM fact_sales_order WHERE sales_order_id = 3);
      UPDATE dim_location SET city = 'Nowhere' WHERE location_id = 1;
      DELETE FROM dim_design WHERE design_id = 8;
      INSERT INTO dim_payment_type (payment_type_id, payment_type_name) VALUES (99, 'SALES_RECEIPT');
      UPDATE dim_date SET day_name = 'Funday' WHERE date_id = '2022-11-05';
    `);
    const [location1] = await totesys.sql<{ city: string }[]>`SELECT city FROM address WHERE address_id = 1`;

    const result = await verify();
    expect(result.batchId).toBe('0000000002');
    expect(result.mismatchedRows).toBe(5);
    expect(countsOf(result)).toEqual({
      ...cleanSample(36),
      dim_date: [36, 0, 0, 1, 0],
      dim_location: [30, 0, 0, 1, 0],
      dim_design: [50, 1, 0, 0, 0],
      dim_payment_type: [4, 0, 1, 0, 0],
      fact_sales_order: [33, 0, 0, 1, 0],
    });
    expect(table(result, 'fact_sales_order').examples.different).toEqual([
      { key: 2, columns: [{ column: 'units_sold', expected: '42972', actual: '43072' }] },
    ]);
    expect(table(result, 'dim_location').examples.different).toEqual([{ key: 1, columns: [{ column: 'city', expected: location1!.city, actual: 'Nowhere' }] }]);
    expect(table(result, 'dim_design').examples).toMatchObject({ missing: [8], extra: [], different: [] });
    expect(table(result, 'dim_payment_type').examples).toMatchObject({ missing: [], extra: [99], different: [] });
    // 5 November 2022 was a Saturday.
    expect(table(result, 'dim_date').examples.different).toEqual([{ key: '2022-11-05', columns: [{ column: 'day_name', expected: 'Saturday', actual: 'Funday' }] }]);
  });

  it('counts what ToteSys changed after the last load as changed since, not as a mismatch', async () => {
    await runPipeline();
    await totesys.sql.unsafe(`
      UPDATE sales_order SET units_sold = units_sold + 5 WHERE sales_order_id = 2;
      UPDATE address SET city = 'Moved' WHERE address_id = 17;
      UPDATE department SET department_name = 'Renamed' WHERE department_id = 3;
      DELETE FROM payment WHERE payment_id = 46;
      INSERT INTO design (design_id, design_name, file_location, file_name, created_at, last_updated) VALUES (1000, 'New', '/new', 'new.json', now(), now());
    `);
    const before = await verify();
    expect(before.batchId).toBe('0000000001');
    expect(before.mismatchedRows).toBe(0);
    expect(countsOf(before)).toEqual({
      ...cleanSample(36),
      dim_staff: [15, 0, 0, 0, 5],
      dim_location: [29, 0, 0, 0, 1],
      dim_design: [50, 0, 0, 0, 1],
      dim_counterparty: [16, 0, 0, 0, 4],
      fact_sales_order: [32, 0, 0, 0, 1],
      fact_payment: [37, 0, 0, 0, 1],
    });
    const changed = (name: string) => table(before, name).examples.changedSince;
    expect(changed('fact_sales_order')).toEqual([2]);
    expect(changed('dim_location')).toEqual([17]);
    // Counterparties 11, 15, 17 and 18 have address 17 as their legal address; department 3 has staff 4, 6, 15, 17 and 20.
    expect(changed('dim_counterparty')).toEqual([11, 15, 17, 18]);
    expect(changed('dim_staff')).toEqual([4, 6, 15, 17, 20]);
    expect(changed('dim_design')).toEqual([1000]);
    // Deleted after the batch: still current in the warehouse, left out of the comparison.
    expect(changed('fact_payment')).toEqual([46]);
    expect(table(before, 'fact_payment').warehouseRows).toBe(37);

    // A corruption of a row that changed since is not judged (the next run carries a new version); one elsewhere is.
    const [order4] = await totesys.sql<{ units_sold: number }[]>`SELECT units_sold FROM sales_order WHERE sales_order_id = 4`;
    await warehouse.sql`UPDATE fact_sales_order SET units_sold = 1 WHERE sales_order_id IN (2, 4)`;
    const corrupted = await verify();
    expect(corrupted.mismatchedRows).toBe(1);
    expect(table(corrupted, 'fact_sales_order').examples.different).toEqual([
      { key: 4, columns: [{ column: 'units_sold', expected: String(order4!.units_sold), actual: '1' }] },
    ]);
    await warehouse.sql`UPDATE fact_sales_order SET units_sold = ${order4!.units_sold} WHERE sales_order_id = 4`;

    await runPipeline();
    const after = await verify();
    expect(after.batchId).toBe('0000000002');
    expect(after.mismatchedRows).toBe(0);
    expect(countsOf(after)).toEqual({ ...cleanSample(36), dim_design: [51, 0, 0, 0, 0], fact_payment: [37, 0, 0, 0, 0] });
  });

  it("counts a write committed after the batch by a transaction that was running at its snapshot as changed since (Extract's rule)", async () => {
    const writer = await totesys.sql.reserve();
    try {
      await writer`BEGIN`;
      await writer`UPDATE sales_order SET units_sold = 1 WHERE sales_order_id = 6`;
      // The batch's snapshot sees the writer running: it extracts the old version of order 6.
      await runPipeline();
      await writer`COMMIT`;
    } finally {
      writer.release();
    }
    expect(await warehouse.sql`SELECT units_sold FROM current_sales_order WHERE sales_order_id = 6`).not.toEqual([{ units_sold: 1 }]);
    const result = await verify();
    expect(result.mismatchedRows).toBe(0);
    expect(table(result, 'fact_sales_order')).toMatchObject({ compared: 32, changedSince: 1 });
    expect(table(result, 'fact_sales_order').examples.changedSince).toEqual([6]);
  });

  it('allows a dimension row whose source row was deleted and whose deletion is recorded, and compares the key again once it is back', async () => {
    await runPipeline();
    await totesys.sql`DELETE FROM design WHERE design_id = 8`;
    const deletedSince = await verify();
    expect(deletedSince.mismatchedRows).toBe(0);
    expect(table(deletedSince, 'dim_design')).toMatchObject({ compared: 49, warehouseRows: 49, changedSince: 1, deletedKept: 0 });
    expect(table(deletedSince, 'dim_design').examples.changedSince).toEqual([8]);

    await runPipeline();
    const kept = await verify();
    expect(kept.batchId).toBe('0000000002');
    expect(kept.mismatchedRows).toBe(0);
    expect(table(kept, 'dim_design')).toMatchObject({ compared: 49, warehouseRows: 49, changedSince: 0, deletedKept: 1 });
    expect(await warehouse.sql`SELECT source_key FROM source_row_deletions WHERE source_table = 'design'`).toEqual([{ source_key: 8 }]);
    expect(await warehouse.sql`SELECT count(*)::int AS n FROM dim_design WHERE design_id = 8`).toEqual([{ n: 1 }]);

    // Inserted again: changed since the batch until the next run carries it, then compared like any row.
    await totesys.sql`INSERT INTO design (design_id, design_name, file_location, file_name, created_at, last_updated) VALUES (8, 'Back', '/x', 'x.json', now(), now())`;
    const reinserted = await verify();
    expect(table(reinserted, 'dim_design')).toMatchObject({ compared: 49, changedSince: 1, deletedKept: 0 });
    await runPipeline();
    await warehouse.sql`UPDATE dim_design SET design_name = 'Stale' WHERE design_id = 8`;
    const back = await verify();
    expect(back.batchId).toBe('0000000003');
    expect(table(back, 'dim_design')).toMatchObject({ compared: 50, warehouseRows: 50, different: 1, changedSince: 0, deletedKept: 0 });
    expect(table(back, 'dim_design').examples.different).toEqual([{ key: 8, columns: [{ column: 'design_name', expected: 'Back', actual: 'Stale' }] }]);
  });

  it('verifies a warehouse made before migration 002: ledger in public, latest versions without current_* views', async () => {
    await runPipeline();
    await totesys.sql`UPDATE sales_order SET units_sold = 7 WHERE sales_order_id = 5`;
    await runPipeline();
    await warehouse.sql.unsafe(`
      DROP VIEW current_sales_order, current_purchase_order, current_payment;
      DROP TABLE source_row_deletions;
      ALTER TABLE pipeline.load_ledger DROP COLUMN lake_id;
      ALTER TABLE pipeline.load_ledger SET SCHEMA public;
      ALTER TABLE public.load_ledger RENAME TO pipeline_load_ledger;
    `);
    const legacy = await verify();
    expect(legacy).toMatchObject({ batchId: '0000000002', mismatchedRows: 0 });
    expect(legacy.lakeId).toBeUndefined();
    expect(countsOf(legacy)).toEqual(cleanSample(36));

    // The latest version is the one compared: the first version of order 5 (before the update) is history.
    await warehouse.sql`UPDATE fact_sales_order SET units_sold = 8 WHERE sales_record_id = (SELECT max(sales_record_id) FROM fact_sales_order WHERE sales_order_id = 5)`;
    const corrupted = await verify();
    expect(table(corrupted, 'fact_sales_order').examples.different).toEqual([{ key: 5, columns: [{ column: 'units_sold', expected: '7', actual: '8' }] }]);
  });

  it('refuses to verify a warehouse that holds no batch', async () => {
    await expect(verify()).rejects.toThrow('Nothing to verify: the warehouse holds no batch; run the pipeline first');
    await loadPendingBatches(lake.loadDeps); // migrates the warehouse; the lake is empty
    await expect(verify()).rejects.toThrow('the warehouse holds no batch; run the pipeline first');
  });

  it('returns the counts per table from the Lambda handler', async () => {
    await runPipeline();
    jest.resetModules();
    Object.assign(process.env, {
      TOTESYS_DATABASE_URL: totesys.url,
      WAREHOUSE_DATABASE_URL: warehouse.url,
      INGESTION_BUCKET: lake.ingestionBucket,
      ...lake.env(),
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
    try {
      // Loaded now, as a Lambda container loads it: the handler reads its configuration once.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { handler } = require('../../functions/verify/handler') as { handler: (event: unknown, context: Context) => Promise<unknown> };
      const written: string[] = [];
      const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
      let output: unknown;
      const before = Date.now();
      try {
        output = await handler({}, {} as Context);
      } finally {
        stdout.mockRestore();
      }
      const after = Date.now();
      // The mismatched-rows metric, in CloudWatch's embedded metric format, with the Deployment dimension alone (what the alarm reads).
      const metric = written.map((line) => line.trim()).filter((line) => line.includes('"MismatchedRows"')).map((line) => JSON.parse(line) as Record<string, unknown>);
      // Stamped when it was published, in milliseconds.
      const stamped = (metric[0]?._aws as { Timestamp?: number } | undefined)?.Timestamp;
      expect(stamped).toBeGreaterThanOrEqual(before);
      expect(stamped).toBeLessThanOrEqual(after);
      expect(metric).toEqual([
        expect.objectContaining({
          _aws: { Timestamp: stamped, CloudWatchMetrics: [{ Namespace: 'ToteSysPipeline', Dimensions: [['Deployment']], Metrics: [{ Name: 'MismatchedRows', Unit: 'Count' }] }] },
          Deployment: 'local',
          MismatchedRows: 0,
        }),
      ]);
      expect(output).toEqual({
        batchId: '0000000001',
        mismatchedRows: 0,
        tables: Object.fromEntries(
          Object.entries(cleanSample(36)).map(([name, [compared, missing, extra, different, changedSince]]) => [name, { compared, missing, extra, different, changedSince }]),
        ),
      });
      expect(JSON.stringify(output).length).toBeLessThan(256 * 1024);
    } finally {
      for (const name of ['TOTESYS_DATABASE_URL', 'WAREHOUSE_DATABASE_URL', 'INGESTION_BUCKET', 'AWS_ENDPOINT_URL_S3', 'S3_FORCE_PATH_STYLE']) delete process.env[name];
    }
  });

  describe('npm run verify', () => {
    const run = promisify(execFile);
    const tsx = path.join(__dirname, '../../node_modules/.bin/tsx');
    const script = path.join(__dirname, '../../scripts/verify.ts');
    let home: string;

    beforeEach(() => {
      home = mkdtempSync(path.join(tmpdir(), 'verify-home-'));
    });
    afterEach(() => rmSync(home, { recursive: true, force: true }));

    /** Runs the script as `npm run verify` does; resolves with its exit code and output. */
    async function verifyCommand(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
      try {
        const { stdout, stderr } = await run(tsx, [script, ...args], { env: { ...process.env, ...env }, cwd: path.join(__dirname, '../..') });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const failed = error as { code: number; stdout: string; stderr: string };
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
      }
    }

    it('exits 0 on an equal warehouse, 1 with the mismatches named after a corruption, 2 on an unknown option', async () => {
      // The pipeline of `npm start` on this PIPELINE_HOME: its S3 server over home/s3, the two local buckets.
      const environment = await startLocalEnvironment({ home, totesysUrl: totesys.url, warehouseUrl: warehouse.url });
      try {
        const s3 = localS3Client(environment.stepEnv.AWS_ENDPOINT_URL_S3!);
        await runThreeSteps(totesys.sql, { s3, ingestionBucket: LOCAL_BUCKETS.ingestion, processedBucket: LOCAL_BUCKETS.processed, duckdb: lake.duckdb, warehouse: warehouse.sql });
      } finally {
        await environment.stop();
      }
      const env = { PIPELINE_HOME: home, TOTESYS_DATABASE_URL: totesys.url, WAREHOUSE_DATABASE_URL: warehouse.url, INGESTION_BUCKET: '' };

      const equal = await verifyCommand([], env);
      expect(equal.stderr).toBe('');
      expect(equal.code).toBe(0);
      expect(equal.stdout).toMatch(/^ {2}fact_sales_order +33 +0 +0 +0 +0$/m);
      expect(equal.stdout).toContain('EQUAL: the warehouse equals ToteSys as of batch 0000000001');

      await warehouse.sql`UPDATE dim_location SET city = 'Nowhere' WHERE location_id = 1`;
      const different = await verifyCommand([], env);
      expect(different.code).toBe(1);
      expect(different.stdout).toMatch(/^ {2}dim_location +30 +0 +0 +1 +0$/m);
      expect(different.stdout).toMatch(/^ {4}location_id 1: city ToteSys ".+", warehouse "Nowhere"$/m);
      expect(different.stdout).toContain('NOT EQUAL: 1 mismatched row in 1 table');

      const json = await verifyCommand(['--json'], env);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout.slice(json.stdout.indexOf('{')))).toMatchObject({ batchId: '0000000001', mismatchedRows: 1 });

      const unknown = await verifyCommand(['--fast'], env);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain("Unknown option '--fast'");
      expect(unknown.stderr).toContain('npm run verify [-- --json]');
    }, 120_000);

    it('says to run npm start first when PIPELINE_HOME holds no lake, and seeds nothing', async () => {
      const empty = await verifyCommand([], { PIPELINE_HOME: home, TOTESYS_DATABASE_URL: '', WAREHOUSE_DATABASE_URL: '', INGESTION_BUCKET: '' });
      expect(empty.code).toBe(1);
      expect(empty.stderr).toMatch(/No lake in PIPELINE_HOME=.*: run npm start first\./);
    }, 60_000);
  });
});

describe('verify: finding the rows that differ between two databases by bucket sums', () => {
  const database = useTestDatabase('verify_buckets');
  const side = (table: string) => ({
    from: () => `${table} t`,
    key: 't.id',
    values: [
      { name: 'id', expression: 't.id::integer' },
      { name: 'amount', expression: 't.amount::numeric(10,2)' },
      { name: 'note', expression: 't.note::text' },
    ],
  });

  beforeAll(async () => {
    await database.sql.unsafe(`
      CREATE TABLE expected_rows AS SELECT id, (id % 977) / 100.0 AS amount, CASE WHEN id % 7 = 0 THEN NULL ELSE 'n' || id END AS note FROM generate_series(1, 200000) AS id;
      CREATE TABLE actual_rows AS SELECT * FROM expected_rows;
      ALTER TABLE expected_rows ADD PRIMARY KEY (id);
      ALTER TABLE actual_rows ADD PRIMARY KEY (id);
    `);
  });

  async function differences(excluded: number[] = []) {
    const expected = { sql: database.sql, source: side('expected_rows') };
    const actual = { sql: database.sql, source: side('actual_rows') };
    const [e, a] = [await readBucketSums(database.sql, expected.source, excluded), await readBucketSums(database.sql, actual.source, excluded)];
    const buckets = differingBuckets(e, a);
    return { buckets: buckets.length, ...(await findDifferentKeys(expected, actual, excluded, buckets)) };
  }

  it('finds nothing in equal tables, then every changed, missing and extra row, also when they are spread over every bucket', async () => {
    expect(await differences()).toEqual({ buckets: 0, missing: [], extra: [], different: [] });

    // A few rows in three buckets: read row by row.
    await database.sql.unsafe(`
      UPDATE actual_rows SET amount = amount + 1 WHERE id = 5;
      UPDATE actual_rows SET note = NULL WHERE id = 2048;
      DELETE FROM actual_rows WHERE id = 150000;
      INSERT INTO actual_rows VALUES (200001, 1, 'extra');
    `);
    expect(await differences()).toEqual({ buckets: 4, missing: [150000], extra: [200001], different: [5, 2048] });
    // Excluded keys are not compared on either side.
    expect(await differences([5, 150000])).toEqual({ buckets: 2, missing: [], extra: [200001], different: [2048] });

    // One row in every 997, in all 196 buckets: summed again in 32-key buckets, only those rows read.
    await database.sql.unsafe(`UPDATE actual_rows SET note = 'changed' WHERE id % 997 = 0`);
    const spread = await differences();
    const every997 = Array.from({ length: 200 }, (_, i) => (i + 1) * 997).filter((id) => id <= 200000);
    expect(spread.buckets).toBe(196);
    expect(spread.missing).toEqual([150000]);
    expect(spread.extra).toEqual([200001]);
    expect(spread.different).toEqual([5, 2048, ...every997].sort((x, y) => x - y));
  });
});
