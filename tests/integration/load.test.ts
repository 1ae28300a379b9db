import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { extractChangedRows } from '../../functions/extract/extract-changed-rows';
import { loadBatch, loadPendingBatches, type LoadDependencies } from '../../functions/load/load-batches';
import { listMigrations, migrateWarehouse } from '../../functions/load/migrate';
import { commitManifest, newAttemptId, readLatestManifest } from '../../functions/shared/batch-manifests';
import { LOG_EVENTS } from '../../functions/shared/log-events';
import { processedTableKey, type ProcessedManifest } from '../../functions/shared/processed-manifest';
import { WAREHOUSE_TABLE_NAMES, WAREHOUSE_TABLES } from '../../functions/shared/warehouse-tables';
import { transformPendingBatches } from '../../functions/transform/transform-batches';
import { useTestDatabase } from '../support/database';
import { seedSampleTotesys, useTestLake } from '../support/local-pipeline';
import { freshBucket, readObject } from '../support/local-s3';

describe('load', () => {
  const totesys = useTestDatabase('load_totesys', { each: true });
  const warehouse = useTestDatabase('load_warehouse', { each: true });
  const lake = useTestLake('load', { warehouse, threads: 1 });

  beforeEach(async () => {
    await lake.fresh();
    await seedSampleTotesys(totesys.sql);
  });

  /** Extract and transform whatever changed in ToteSys: the next processed batch, not yet loaded. */
  async function prepareBatch(): Promise<ProcessedManifest> {
    await extractChangedRows(lake.extractDeps(totesys.sql));
    await transformPendingBatches(lake.transformDeps);
    return (await readLatestManifest<ProcessedManifest>(lake.s3, lake.processedBucket))!;
  }

  /** A processed batch 2 whose `rows` sales orders (of batch 1's) name staff 999: written by hand, as a broken transform would. */
  async function commitBatchWithUnknownStaff(first: ProcessedManifest, rows = 1): Promise<void> {
    const attemptId = newAttemptId();
    const key = processedTableKey('fact_sales_order', '0000000002', attemptId);
    const parquet = await readObject(lake.s3, lake.processedBucket, first.tables.fact_sales_order!.key);
    await lake.s3.send(new PutObjectCommand({ Bucket: lake.processedBucket, Key: key, Body: await withStaff999(parquet, lake.workRoot, rows) }));
    await commitManifest(lake.s3, lake.processedBucket, {
      formatVersion: 1,
      batchId: '0000000002',
      attemptId,
      previousBatchId: '0000000001',
      lake: first.lake,
      transformedAt: new Date().toISOString(),
      tables: { fact_sales_order: { key, rows } },
      state: first.state,
    } as ProcessedManifest);
  }

  /** Every warehouse table's content, as text, to compare whole states. */
  async function warehouseState(): Promise<Record<string, string[]>> {
    const state: Record<string, string[]> = {};
    for (const table of [...WAREHOUSE_TABLE_NAMES, 'source_row_deletions', 'pipeline.load_ledger']) {
      const rows = await warehouse.sql.unsafe(`SELECT t::text AS row FROM ${table} t ORDER BY 1`).catch(() => []);
      state[table] = rows.map((r) => String(r.row));
    }
    return state;
  }

  it('creates the warehouse schema of the contract from nothing: names, types, nullability, keys', async () => {
    expect(await migrateWarehouse(warehouse.sql)).toEqual(listMigrations().map((m) => m.version));
    const columns = await warehouse.sql<{ table_name: string; column_name: string; data_type: string; is_nullable: string }[]>`
      SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = 'fact_sales_order' ORDER BY ordinal_position`;
    expect(columns.map((c) => `${c.column_name} ${c.data_type}${c.is_nullable === 'YES' ? ' null' : ''}`)).toEqual([
      'sales_record_id integer',
      'sales_order_id integer',
      'created_date date',
      'created_time time without time zone',
      'last_updated_date date',
      'last_updated_time time without time zone',
      'sales_staff_id integer',
      'counterparty_id integer',
      'units_sold integer',
      'unit_price numeric',
      'currency_id integer',
      'design_id integer',
      'agreed_payment_date date',
      'agreed_delivery_date date',
      'agreed_delivery_location_id integer',
    ]);
    const nullable = await warehouse.sql<{ column: string }[]>`
      SELECT table_name || '.' || column_name AS column FROM information_schema.columns
      WHERE table_schema = current_schema() AND is_nullable = 'YES' AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE')
      ORDER BY 1`;
    expect(nullable.map((c) => c.column)).toEqual([
      'dim_counterparty.counterparty_legal_address_line_2',
      'dim_counterparty.counterparty_legal_district',
      'dim_location.address_line_2',
      'dim_location.district',
      'dim_staff.location',
      'dim_transaction.purchase_order_id',
      'dim_transaction.sales_order_id',
      'source_row_deletions.last_record_id',
    ]);
    const foreignKeys = await warehouse.sql<{ fk: string }[]>`
      SELECT conrelid::regclass || '.' || a.attname || ' -> ' || confrelid::regclass AS fk
      FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      WHERE c.contype = 'f' AND conrelid::regclass::text = 'fact_payment' ORDER BY 1`;
    expect(foreignKeys.map((f) => f.fk)).toEqual([
      'fact_payment.counterparty_id -> dim_counterparty',
      'fact_payment.created_date -> dim_date',
      'fact_payment.currency_id -> dim_currency',
      'fact_payment.last_updated_date -> dim_date',
      'fact_payment.payment_date -> dim_date',
      'fact_payment.payment_type_id -> dim_payment_type',
      'fact_payment.transaction_id -> dim_transaction',
    ]);
    // The TypeScript contract and the migration agree on every table's columns.
    for (const table of WAREHOUSE_TABLE_NAMES) {
      const live = await warehouse.sql<{ column_name: string }[]>`
        SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table} ORDER BY ordinal_position`;
      const definition = WAREHOUSE_TABLES[table];
      const expected = [...(definition.kind === 'fact' ? [definition.primaryKey] : []), ...definition.columns.map((c) => c.name)];
      expect(live.map((c) => c.column_name)).toEqual(expected);
    }
  });

  it('applies migrations once, when run twice and when two loaders run them at once', async () => {
    const second = postgres(warehouse.url, { max: 1, onnotice: () => {} });
    try {
      const results = await Promise.all([migrateWarehouse(warehouse.sql), migrateWarehouse(second)]);
      expect(results.flat()).toEqual(listMigrations().map((m) => m.version));
      expect(await migrateWarehouse(warehouse.sql)).toEqual([]);
      const [{ count }] = (await warehouse.sql`SELECT count(*)::int AS count FROM pipeline.schema_migrations`) as unknown as [{ count: number }];
      expect(count).toBe(listMigrations().length);
    } finally {
      await second.end();
    }
  });

  it('loads a first batch, then an incremental one with a new fact version and changed dimensions', async () => {
    await prepareBatch();
    const first = await loadPendingBatches(lake.loadDeps);
    expect(first.loadedBatchIds).toEqual(['0000000001']);
    expect(first.rows).toMatchObject({ fact_sales_order: 33, fact_payment: 38, dim_counterparty: 20, dim_staff: 20 });

    await totesys.sql`UPDATE sales_order SET units_sold = 100, last_updated = '2023-06-01 12:00:00.123' WHERE sales_order_id = 2`;
    await totesys.sql`UPDATE address SET city = 'Leeds', last_updated = '2023-06-01 12:00:00.123' WHERE address_id = 15`;
    await prepareBatch();
    const second = await loadPendingBatches(lake.loadDeps);
    expect(second).toEqual({
      upToBatchId: '0000000002',
      loadedBatchIds: ['0000000002'],
      rows: expect.objectContaining({ fact_sales_order: 1, dim_location: 1, dim_counterparty: 1 }),
    });

    const versions = await warehouse.sql`SELECT units_sold, last_updated_date::text, last_updated_time::text FROM fact_sales_order WHERE sales_order_id = 2 ORDER BY sales_record_id`;
    expect(versions).toEqual([
      { units_sold: 42972, last_updated_date: '2022-11-03', last_updated_time: '14:20:52.186' },
      { units_sold: 100, last_updated_date: '2023-06-01', last_updated_time: '12:00:00.123' },
    ]);
    const [counterparty] = await warehouse.sql`SELECT counterparty_legal_city FROM dim_counterparty WHERE counterparty_id = 1`;
    expect(counterparty).toEqual({ counterparty_legal_city: 'Leeds' });
    const [ledger] = await warehouse.sql`SELECT newest_change::text FROM pipeline.load_ledger WHERE batch_id = '0000000002'`;
    expect(ledger).toEqual({ newest_change: '2023-06-01 12:00:00.123' });
  });

  it('changes nothing when the same batch is loaded twice', async () => {
    await prepareBatch();
    await loadPendingBatches(lake.loadDeps);
    const before = await warehouseState();
    expect(await loadBatch(lake.loadDeps, '0000000001')).toBeUndefined();
    expect(await loadPendingBatches(lake.loadDeps)).toEqual({ upToBatchId: '0000000001', loadedBatchIds: [], rows: {} });
    expect(await warehouseState()).toEqual(before);
  });

  it('leaves the warehouse as it was when a load fails half-way', async () => {
    await prepareBatch();
    await loadPendingBatches(lake.loadDeps);
    await totesys.sql`UPDATE sales_order SET units_sold = 1, last_updated = now() WHERE sales_order_id = 3`;
    await totesys.sql`UPDATE staff SET first_name = 'Jem', last_updated = now() WHERE staff_id = 1`;
    await prepareBatch();
    const before = await warehouseState();

    // The batch's first table (dim_date) loads; reading the next object fails.
    let reads = 0;
    const failing = lake.client();
    failing.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetObjectCommand' && (args.input as { Key: string }).Key.startsWith('tables/') && ++reads === 2) {
          throw new Error('injected failure half-way');
        }
        return next(args);
      },
      { step: 'initialize', name: 'failHalfWay' },
    );
    await expect(loadPendingBatches({ ...lake.loadDeps, s3: failing })).rejects.toThrow('injected failure half-way');
    expect(reads).toBe(2);
    expect(await warehouseState()).toEqual(before);

    const retried = await loadPendingBatches(lake.loadDeps);
    expect(retried.loadedBatchIds).toEqual(['0000000002']);
  });

  it('refuses a batch whose predecessor is not loaded, and loads the gap first when asked for all', async () => {
    await prepareBatch();
    await totesys.sql`UPDATE design SET design_name = 'Oak', last_updated = now() WHERE design_id = 8`;
    await prepareBatch();
    await migrateWarehouse(warehouse.sql);

    await expect(loadBatch(lake.loadDeps, '0000000002')).rejects.toMatchObject({
      name: 'PipelineStateError',
      message: 'Batch 0000000002 cannot be loaded before batch 0000000001: load the batches in order',
    });
    expect(await loadPendingBatches(lake.loadDeps, '0000000002')).toMatchObject({ loadedBatchIds: ['0000000001', '0000000002'] });
    const [design] = await warehouse.sql`SELECT design_name FROM dim_design WHERE design_id = 8`;
    expect(design).toEqual({ design_name: 'Oak' });
  });

  it('fails a batch whose fact references a dimension key the warehouse does not hold, naming table, key and batch', async () => {
    const first = await prepareBatch();
    await loadPendingBatches(lake.loadDeps);
    await commitBatchWithUnknownStaff(first);
    const before = await warehouseState();

    await expect(loadPendingBatches(lake.loadDeps)).rejects.toMatchObject({
      name: 'BadInputError',
      message: 'Batch 0000000002: fact_sales_order.sales_staff_id references dim_staff key 999, which the warehouse does not hold',
    });
    expect(await warehouseState()).toEqual(before);
  });

  const foreignKeys = () =>
    warehouse.sql`SELECT conrelid::regclass::text AS t, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE contype IN ('f', 'u') AND connamespace = current_schema()::regnamespace ORDER BY 1, 2`;

  /** A Load log that keeps the strategy each table of each batch was loaded with (`<batchId> <table>`). */
  function strategyLog(): { strategies: Map<string, unknown>; log: NonNullable<LoadDependencies['log']> } {
    const strategies = new Map<string, unknown>();
    return {
      strategies,
      log: (event, fields) => {
        if (event === LOG_EVENTS.load.tableLoaded) strategies.set(`${fields.batchId} ${fields.table}`, fields.strategy);
      },
    };
  }

  it('applies a bulk batch with its keys rebuilt: the same rows, every key back, a dangling key still refused', async () => {
    await migrateWarehouse(warehouse.sql);
    const keysBefore = await foreignKeys();
    const first = await prepareBatch();
    const { strategies, log } = strategyLog();
    const bulk = await loadPendingBatches({ ...lake.loadDeps, bulkRows: 1, log });
    expect(bulk.rows).toMatchObject({ fact_sales_order: 33, fact_purchase_order: 50, fact_payment: 38 });
    expect(new Set(strategies.values())).toEqual(new Set(['first-load']));
    expect(await foreignKeys()).toEqual(keysBefore);
    // Foreign keys: 9 on sales orders, 8 on purchase orders, 7 on payments (versions are by content: no unique version key).
    expect(keysBefore).toHaveLength(24);

    // Every sales order again, naming staff 999: large against the table, so applied in bulk, and refused by name.
    await commitBatchWithUnknownStaff(first, 33);
    await expect(loadPendingBatches({ ...lake.loadDeps, bulkRows: 1 })).rejects.toMatchObject({
      name: 'BadInputError',
      message: 'Batch 0000000002: fact_sales_order.sales_staff_id references dim_staff key 999, which the warehouse does not hold',
    });
    expect(await foreignKeys()).toEqual(keysBefore);
  });

  it('appends a bulk batch of new versions as an incremental load would, with every key back', async () => {
    await prepareBatch();
    await loadPendingBatches(lake.loadDeps);
    const keysBefore = await foreignKeys();
    await totesys.sql`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = '2023-06-01 12:00:00.123'`;
    await prepareBatch();
    const { strategies, log } = strategyLog();

    const second = await loadPendingBatches({ ...lake.loadDeps, bulkRows: 1, log });
    expect(strategies.get('0000000002 fact_sales_order')).toBe('bulk');
    expect(second.rows).toMatchObject({ fact_sales_order: 33 });
    expect(await foreignKeys()).toEqual(keysBefore);
    const versions = await warehouse.sql`SELECT units_sold, last_updated_date::text FROM fact_sales_order WHERE sales_order_id = 2 ORDER BY sales_record_id`;
    expect(versions).toEqual([
      { units_sold: 42972, last_updated_date: '2022-11-03' },
      { units_sold: 42973, last_updated_date: '2023-06-01' },
    ]);
  });

  it('refuses a first load whose facts reference keys it does not hold, keeping every key of the empty tables', async () => {
    const first = await prepareBatch();
    await migrateWarehouse(warehouse.sql);
    const keys = () => warehouse.sql`SELECT conname FROM pg_constraint WHERE connamespace = current_schema()::regnamespace ORDER BY 1`;
    const keysBefore = await keys();
    // Batch 1 with its facts but none of its dimensions: every fact's keys dangle.
    const broken = { ...first, tables: { fact_payment: first.tables.fact_payment! } };
    const processed = await freshBucket(lake.s3, 'processed-broken');
    await lake.s3.send(new PutObjectCommand({ Bucket: processed, Key: first.tables.fact_payment!.key, Body: await readObject(lake.s3, lake.processedBucket, first.tables.fact_payment!.key) }));
    await commitManifest(lake.s3, processed, broken);

    await expect(loadPendingBatches({ ...lake.loadDeps, processedBucket: processed, bulkRows: 1 })).rejects.toMatchObject({
      name: 'BadInputError',
      message: expect.stringMatching(/^Batch 0000000001: fact_payment\.\w+ references dim_\w+ key .+, which the warehouse does not hold$/),
    });
    expect(await keys()).toEqual(keysBefore);
    const [{ count }] = (await warehouse.sql`SELECT count(*)::int AS count FROM fact_payment`) as unknown as [{ count: number }];
    expect(count).toBe(0);
  });

  it('works for a warehouse user that owns only its own schema', async () => {
    const role = `warehouse_owner_${process.pid}`;
    await warehouse.sql.unsafe(`DROP ROLE IF EXISTS ${role}`);
    await warehouse.sql.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD 'owner-password' NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    await warehouse.sql.unsafe(`CREATE SCHEMA analytics AUTHORIZATION ${role}`);
    // The bookkeeping schema, made for the loader by an administrator (README: Load).
    await warehouse.sql.unsafe(`CREATE SCHEMA pipeline AUTHORIZATION ${role}`);
    const url = new URL(warehouse.url);
    url.username = role;
    url.password = 'owner-password';
    const owner = postgres(url.toString(), { max: 1, onnotice: () => {}, connection: { search_path: 'analytics' } });
    try {
      await prepareBatch();
      const result = await loadPendingBatches({ ...lake.loadDeps, warehouse: owner });
      expect(result.loadedBatchIds).toEqual(['0000000001']);
      const [{ count }] = (await warehouse.sql`SELECT count(*)::int AS count FROM analytics.fact_sales_order`) as unknown as [{ count: number }];
      expect(count).toBe(33);
    } finally {
      await owner.end();
      await warehouse.sql.unsafe(`DROP SCHEMA analytics CASCADE`);
      await warehouse.sql.unsafe(`DROP SCHEMA pipeline CASCADE`);
      await warehouse.sql.unsafe(`DROP ROLE ${role}`);
    }
  });
});

/** The first row of a fact_sales_order Parquet file, with its staff changed to 999. */
async function withStaff999(parquet: Buffer, dir: string, rows: number): Promise<Buffer> {
  const input = path.join(dir, 'input.parquet');
  const output = path.join(dir, 'output.parquet');
  writeFileSync(input, parquet);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run(`COPY (SELECT * REPLACE (999 AS sales_staff_id) FROM read_parquet($1) LIMIT $3) TO $2 (FORMAT parquet)`, [input, output, rows]);
  connection.closeSync();
  instance.closeSync();
  return readFileSync(output);
}
