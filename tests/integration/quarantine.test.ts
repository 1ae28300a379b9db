import { execFile } from 'node:child_process';
import path from 'node:path';
import { readLatestManifest } from '../../functions/shared/batch-manifests';
import { BadInputError } from '../../functions/shared/errors';
import type { ProcessedManifest } from '../../functions/shared/processed-manifest';
import { DEFAULT_ROW_POLICY, readHeldRows } from '../../functions/shared/quarantine';
import type { TransformDependencies } from '../../functions/transform/transform-batches';
import { verifyWarehouse } from '../../functions/verify/verify-warehouse';
import { useTestDatabase } from '../support/database';
import { seedSampleTotesys, useTestLake } from '../support/local-pipeline';
import { listKeys } from '../support/local-s3';

/**
 * A row that fails a check is held in quarantine while the rest of its batch goes on, and heals
 * by itself once ToteSys is fixed or the row it references arrives (docs/quarantine.md).
 */
describe('quarantine: bad rows are held, the rest goes on, and they heal', () => {
  const totesys = useTestDatabase('quarantine_totesys', { each: true });
  const warehouse = useTestDatabase('quarantine_warehouse', { each: true });
  const lake = useTestLake('quarantine', { warehouse });

  beforeEach(async () => {
    await lake.fresh();
    await seedSampleTotesys(totesys.sql);
  });

  const run = (overrides: Partial<TransformDependencies> = {}) => lake.runPipeline(totesys.sql, overrides);
  /** `npm run quarantine` against this test's processed bucket, as an operator runs it against AWS. */
  // Asynchronously: the S3 server it talks to runs in this process.
  const listQuarantine = () =>
    new Promise<{ status: number | null; stdout: string }>((resolve, reject) => {
      execFile(
        process.execPath,
        [require.resolve('tsx/cli'), path.join(__dirname, '../../scripts/quarantine.ts')],
        { env: { ...process.env, ...lake.env(), PROCESSED_BUCKET: lake.processedBucket }, encoding: 'utf-8' },
        (error, stdout) => (error && typeof error.code !== 'number' ? reject(error) : resolve({ status: typeof error?.code === 'number' ? error.code : 0, stdout })),
      );
    });
  const verify = () => verifyWarehouse({ totesys: totesys.sql, warehouse: warehouse.sql, s3: lake.s3, ingestionBucket: lake.ingestionBucket });
  const unitsOf = async (salesOrderId: number) =>
    (await warehouse.sql<{ units_sold: number }[]>`SELECT units_sold FROM current_sales_order WHERE sales_order_id = ${salesOrderId}`)[0]?.units_sold;
  const heldNow = async () => readHeldRows(lake.s3, lake.processedBucket, (await readLatestManifest<ProcessedManifest>(lake.s3, lake.processedBucket))?.quarantine?.key);
  /** Inserts rows whose references ToteSys's own foreign keys would refuse: a late-arriving dimension, as a live feed can deliver it. */
  const withoutForeignKeys = (work: (sql: typeof totesys.sql) => Promise<unknown>) =>
    totesys.sql.begin(async (sql) => {
      await sql`SET LOCAL session_replication_role = replica`;
      await work(sql as unknown as typeof totesys.sql);
    });

  it('holds a row with an impossible date, loads the rest of the batch, and closes it once ToteSys is fixed', async () => {
    await run();
    const unitsOf5 = (await unitsOf(5))!;
    await totesys.sql`UPDATE sales_order SET agreed_payment_date = '2022-02-30', units_sold = units_sold + 1, last_updated = now() WHERE sales_order_id = 4`;
    await totesys.sql`UPDATE sales_order SET units_sold = units_sold + 3, last_updated = now() WHERE sales_order_id = 5`;
    const unitsOf4 = (await unitsOf(4))!;

    const bad = await run();
    expect(bad.transform.quarantine).toMatchObject({ held: 1, added: 1, released: 0, closed: 0 });
    expect(bad.transform.quarantine.rows).toEqual([
      { table: 'sales_order', key: '4', field: 'agreed_payment_date', reason: '"2022-02-30" is not a date (YYYY-MM-DD)', batchId: '0000000002', heldSince: '0000000002' },
    ]);
    expect(await unitsOf(5)).toBe(unitsOf5 + 3); // the rest of the batch went on
    expect(await unitsOf(4)).toBe(unitsOf4); // the warehouse keeps the last good version
    const [held] = await heldNow();
    expect(held).toMatchObject({ line: 1, object: expect.stringMatching(new RegExp(`^s3://${lake.ingestionBucket}/tables/sales_order/batch-0000000002/`)) });
    expect(JSON.parse(held!.text)).toMatchObject({ sales_order_id: 4, agreed_payment_date: '2022-02-30', units_sold: unitsOf4 + 1 });
    // The warehouse says what it holds back, and verification counts it apart from mismatches.
    expect(await warehouse.sql`SELECT source_table, source_key, field, batch_id, line FROM pipeline.quarantined_rows`).toEqual([
      { source_table: 'sales_order', source_key: '4', field: 'agreed_payment_date', batch_id: '0000000002', line: 1 },
    ]);
    const during = await verify();
    expect(during.mismatchedRows).toBe(0);
    expect(during.tables.find((t) => t.table === 'fact_sales_order')).toMatchObject({ quarantined: 1, examples: { quarantined: [4] } });
    const listed = await listQuarantine();
    expect(listed.status).toBe(1);
    expect(listed.stdout).toContain('1 row(s) held in quarantine after batch 0000000002:');
    expect(listed.stdout).toContain('sales_order key 4, field agreed_payment_date: "2022-02-30" is not a date (YYYY-MM-DD) (batch 0000000002');

    await totesys.sql`UPDATE sales_order SET units_sold = units_sold + 3, last_updated = now() WHERE sales_order_id = 5`;
    const still = await run();
    expect(still.transform.quarantine).toMatchObject({ held: 1, added: 0, released: 0, closed: 0 });
    expect(still.transform.transformedBatchIds).toEqual(['0000000003']);
    expect((await heldNow())[0]).toMatchObject({ key: '4', heldSince: '0000000002', lastTried: '0000000003' });

    await totesys.sql`UPDATE sales_order SET agreed_payment_date = '2022-03-01' WHERE sales_order_id = 4`;
    const healed = await run();
    expect(healed.transform.quarantine).toMatchObject({ held: 0, added: 0, released: 0, closed: 1, rows: [] });
    expect(await unitsOf(4)).toBe(unitsOf4 + 1);
    expect(await warehouse.sql`SELECT 1 FROM pipeline.quarantined_rows`).toHaveLength(0);
    expect(await listQuarantine()).toMatchObject({ status: 0, stdout: expect.stringContaining('Nothing is held in quarantine after batch 0000000004.') });
    const after = await verify();
    expect(after.mismatchedRows).toBe(0);
    expect(after.tables.every((t) => t.quarantined === 0)).toBe(true);
  });

  it('holds a date outside the accepted days so that dim_date does not grow, and lets it in once the bounds allow it', async () => {
    await run();
    const days = (await warehouse.sql<{ days: number }[]>`SELECT count(*)::int AS days FROM dim_date`)[0]!.days;
    await totesys.sql`UPDATE sales_order SET agreed_delivery_date = '2150-06-30', last_updated = now() WHERE sales_order_id = 6`;

    const bad = await run();
    expect(bad.transform.quarantine.rows).toEqual([
      expect.objectContaining({ table: 'sales_order', key: '6', field: 'agreed_delivery_date', reason: expect.stringContaining('after the latest day accepted, 2099-12-31') }),
    ]);
    expect(await warehouse.sql`SELECT 1 FROM dim_date WHERE date_id > '2099-12-31'`).toHaveLength(0);
    expect((await warehouse.sql<{ days: number }[]>`SELECT count(*)::int AS days FROM dim_date`)[0]!.days).toBe(days);

    // Widened bounds are a fix too: the next batch's retry lets the row in.
    await totesys.sql`UPDATE staff SET email_address = email_address WHERE staff_id = 1`;
    const widened = await run({ rows: { ...DEFAULT_ROW_POLICY, latestDate: '2199-12-31' } });
    expect(widened.transform.quarantine).toMatchObject({ held: 0, released: 1 });
    expect(await warehouse.sql`SELECT 1 FROM dim_date WHERE date_id = '2150-06-30'`).toHaveLength(1);
  });

  it('holds a fact whose dimension row has not arrived, and what references a held row, and releases them when the rows arrive', async () => {
    await run();
    const salesOrderLike = (id: number, staffId: string, counterpartyId: string) => `
      INSERT INTO sales_order (sales_order_id, created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,
        agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
      SELECT ${id}, created_at, now(), design_id, ${staffId}, ${counterpartyId}, units_sold, unit_price, currency_id,
        agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id FROM sales_order WHERE sales_order_id = 2`;
    await withoutForeignKeys(async (sql) => {
      await sql.unsafe(salesOrderLike(9001, '999', 'counterparty_id'));
      await sql`INSERT INTO counterparty (counterparty_id, counterparty_legal_name, legal_address_id, created_at, last_updated)
                VALUES (9002, 'Late Address Ltd', 778, now(), now())`;
      await sql.unsafe(salesOrderLike(9002, 'staff_id', '9002'));
    });
    const late = await run();
    expect(late.transform.quarantine).toMatchObject({ held: 3, added: 3 });
    expect(late.transform.quarantine.rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ table: 'sales_order', key: '9001', field: 'staff_id', reason: 'references staff_id=999, which no batch has delivered to staff' }),
        expect.objectContaining({ table: 'counterparty', key: '9002', field: 'legal_address_id', reason: 'references legal_address_id=778, which no batch has delivered to address' }),
        expect.objectContaining({ table: 'sales_order', key: '9002', field: 'counterparty_id', reason: 'references counterparty_id=9002, which no batch has delivered to counterparty' }),
      ]),
    );
    expect(await warehouse.sql`SELECT 1 FROM fact_sales_order WHERE sales_order_id IN (9001, 9002)`).toHaveLength(0);
    expect(await warehouse.sql`SELECT 1 FROM dim_counterparty WHERE counterparty_id = 9002`).toHaveLength(0);
    const during = await verify();
    expect(during.mismatchedRows).toBe(0);
    expect(during.tables.find((t) => t.table === 'fact_sales_order')).toMatchObject({ quarantined: 2 });

    await totesys.sql`INSERT INTO staff (staff_id, first_name, last_name, department_id, email_address, created_at, last_updated)
                      SELECT 999, 'Late', 'Arrival', department_id, 'late.arrival@terrifictotes.com', now(), now() FROM staff WHERE staff_id = 1`;
    await totesys.sql`INSERT INTO address (address_id, address_line_1, city, postal_code, country, phone, created_at, last_updated)
                      VALUES (778, '1 Late Lane', 'Leeds', 'LS1 1AA', 'UK', '0113 000 0000', now(), now())`;
    const arrived = await run();
    expect(arrived.transform.quarantine).toMatchObject({ held: 0, released: 3, closed: 0 });
    expect(await warehouse.sql`SELECT sales_order_id, sales_staff_id FROM current_sales_order WHERE sales_order_id IN (9001, 9002) ORDER BY 1`).toEqual([
      { sales_order_id: 9001, sales_staff_id: 999 },
      { sales_order_id: 9002, sales_staff_id: 19 },
    ]);
    expect(await warehouse.sql`SELECT counterparty_legal_address_line_1 FROM dim_counterparty WHERE counterparty_id = 9002`).toEqual([{ counterparty_legal_address_line_1: '1 Late Lane' }]);
    expect((await verify()).mismatchedRows).toBe(0);
  });

  it('closes a held row whose source row is deleted', async () => {
    await run();
    await withoutForeignKeys(async (sql) => {
      await sql`INSERT INTO payment_type (payment_type_id, payment_type_name, created_at, last_updated)
                SELECT 9001, payment_type_name, now(), now() FROM payment_type WHERE payment_type_id = 1`;
      await sql`UPDATE counterparty SET legal_address_id = 777, last_updated = now() WHERE counterparty_id = 1`;
    });
    const held = await run();
    expect(held.transform.quarantine.rows).toEqual([expect.objectContaining({ table: 'counterparty', key: '1', field: 'legal_address_id' })]);
    // The counterparty's previous version still stands in its dimension.
    expect(await warehouse.sql`SELECT 1 FROM dim_counterparty WHERE counterparty_id = 1`).toHaveLength(1);

    await withoutForeignKeys((sql) => sql`DELETE FROM counterparty WHERE counterparty_id = 1`);
    const deleted = await run();
    expect(deleted.transform.quarantine).toMatchObject({ held: 0, closed: 1 });
    expect(await heldNow()).toEqual([]);
  });

  it('in strict mode fails the batch on the bad row, naming its table, key and field, and commits nothing', async () => {
    await run();
    await totesys.sql`UPDATE sales_order SET agreed_payment_date = '2022-02-30', last_updated = now() WHERE sales_order_id = 4`;
    const manifestsBefore = await listKeys(lake.s3, lake.processedBucket, 'manifests/');
    const failure = await run({ rows: { ...DEFAULT_ROW_POLICY, strict: true } }).catch((error: unknown) => error as Error);
    expect(failure).toBeInstanceOf(BadInputError);
    expect((failure as Error).message).toMatch(/table sales_order, object s3:\/\/.*, line 1 \(sales_order_id 4\), field agreed_payment_date: "2022-02-30" is not a date/);
    expect(await listKeys(lake.s3, lake.processedBucket, 'manifests/')).toEqual(manifestsBefore);
  });
});
