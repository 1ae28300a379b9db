import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { extractChangedRows } from '../../functions/extract/extract-changed-rows';
import { readLatestManifest } from '../../functions/shared/batch-manifests';
import type { ProcessedManifest } from '../../functions/shared/processed-manifest';
import type { WarehouseTableName } from '../../functions/shared/warehouse-tables';
import { transformBatch, transformPendingBatches, type TransformDependencies } from '../../functions/transform/transform-batches';
import { useTestDatabase } from '../support/database';
import { SAMPLE_DIR, seedSampleTotesys, useTestLake } from '../support/local-pipeline';
import { listKeys } from '../support/local-s3';
import { readParquetRows, readParquetTypes } from '../support/parquet';

const NOTHING_HELD = { held: 0, added: 0, released: 0, closed: 0, rows: [], message: '' };

describe('transform', () => {
  const db = useTestDatabase('transform', { each: true });
  const lake = useTestLake('transform', { threads: 1 });
  let deps: TransformDependencies;
  let warnings: Record<string, unknown>[];

  beforeEach(async () => {
    await lake.fresh();
    warnings = [];
    deps = {
      ...lake.transformDeps,
      log: (level, message, fields) => {
        if (level === 'warn') warnings.push({ message, ...fields });
      },
    };
    await seedSampleTotesys(db.sql);
  });

  /** Extracts what changed in ToteSys and transforms it: one batch through two steps. */
  async function runBatch(): Promise<ProcessedManifest> {
    await extractChangedRows(lake.extractDeps(db.sql));
    await transformPendingBatches(deps);
    return (await readLatestManifest<ProcessedManifest>(lake.s3, lake.processedBucket))!;
  }

  async function rowsOf(manifest: ProcessedManifest, table: WarehouseTableName, orderBy: string): Promise<Record<string, unknown>[]> {
    const output = manifest.tables[table];
    return output ? readParquetRows(lake.s3, lake.processedBucket, output.key, orderBy) : [];
  }

  it('splits timestamps into date and time with milliseconds, and keeps every fact column as the warehouse names it', async () => {
    const batch = await runBatch();
    const [order] = (await rowsOf(batch, 'fact_sales_order', 'sales_order_id')).filter((row) => row.sales_order_id === 2);
    // From the sample's sales order 2, by hand.
    expect(order).toEqual({
      sales_order_id: 2,
      created_date: '2022-11-03',
      created_time: '14:20:52.186',
      last_updated_date: '2022-11-03',
      last_updated_time: '14:20:52.186',
      sales_staff_id: 19,
      counterparty_id: 8,
      units_sold: 42972,
      unit_price: '3.94',
      currency_id: 2,
      design_id: 3,
      agreed_payment_date: '2022-11-08',
      agreed_delivery_date: '2022-11-07',
      agreed_delivery_location_id: 8,
    });
    const [payment] = (await rowsOf(batch, 'fact_payment', 'payment_id')).filter((row) => row.payment_id === 2);
    expect(payment).toEqual({
      payment_id: 2,
      created_date: '2022-11-03',
      created_time: '14:20:52.187',
      last_updated_date: '2022-11-03',
      last_updated_time: '14:20:52.187',
      transaction_id: 2,
      counterparty_id: 15,
      payment_amount: '552548.62',
      currency_id: 2,
      payment_type_id: 3,
      paid: false,
      payment_date: '2022-11-04',
    });
  });

  it('writes typed Parquet: DATE, TIME, DECIMAL(10,2), INTEGER, BOOLEAN', async () => {
    const batch = await runBatch();
    expect(await readParquetTypes(lake.s3, lake.processedBucket, batch.tables.fact_payment!.key)).toEqual({
      payment_id: 'INTEGER',
      created_date: 'DATE',
      created_time: 'TIME',
      last_updated_date: 'DATE',
      last_updated_time: 'TIME',
      transaction_id: 'INTEGER',
      counterparty_id: 'INTEGER',
      payment_amount: 'DECIMAL(10,2)',
      currency_id: 'INTEGER',
      payment_type_id: 'INTEGER',
      paid: 'BOOLEAN',
      payment_date: 'DATE',
    });
  });

  it('builds every dimension of the warehouse from the first batch', async () => {
    const batch = await runBatch();
    expect(Object.fromEntries(Object.entries(batch.tables).map(([table, output]) => [table, output.rows]))).toEqual({
      fact_sales_order: 33,
      fact_purchase_order: 50,
      fact_payment: 38,
      dim_date: calendarDaysOfSample(),
      dim_staff: 20,
      dim_location: 30,
      dim_currency: 3,
      dim_design: 50,
      dim_counterparty: 20,
      dim_transaction: 38,
      dim_payment_type: 4,
    });
    expect(await rowsOf(batch, 'dim_staff', 'staff_id').then((rows) => rows[0])).toEqual({
      staff_id: 1,
      first_name: 'Jeremie',
      last_name: 'Franey',
      department_name: 'Purchasing',
      location: 'Manchester',
      email_address: 'jeremie.franey@terrifictotes.com',
    });
    const counterparty = (await rowsOf(batch, 'dim_counterparty', 'counterparty_id'))[0];
    expect(counterparty).toEqual({
      counterparty_id: 1,
      counterparty_legal_name: 'Fahey and Sons',
      counterparty_legal_address_line_1: '605 Haskell Trafficway',
      counterparty_legal_address_line_2: 'Axel Freeway',
      counterparty_legal_district: null,
      counterparty_legal_city: 'East Bobbie',
      counterparty_legal_postal_code: '88253-4257',
      counterparty_legal_country: 'Heard Island and McDonald Islands',
      counterparty_legal_phone_number: '9687 937447',
    });
    expect(await rowsOf(batch, 'dim_payment_type', 'payment_type_id')).toContainEqual({ payment_type_id: 3, payment_type_name: 'PURCHASE_PAYMENT' });
    expect(await rowsOf(batch, 'dim_transaction', 'transaction_id')).toContainEqual({
      transaction_id: 1,
      transaction_type: 'PURCHASE',
      sales_order_id: null,
      purchase_order_id: 2,
    });
  });

  it('names currencies from the platform internationalisation data, and keeps an unknown code as its name with a warning', async () => {
    await db.sql`INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES (4, 'ZZZ', now(), now())`;
    const batch = await runBatch();
    expect(await rowsOf(batch, 'dim_currency', 'currency_id')).toEqual([
      { currency_id: 1, currency_code: 'GBP', currency_name: 'British Pound' },
      { currency_id: 2, currency_code: 'USD', currency_name: 'US Dollar' },
      { currency_id: 3, currency_code: 'EUR', currency_name: 'Euro' },
      { currency_id: 4, currency_code: 'ZZZ', currency_name: 'ZZZ' },
    ]);
    expect(warnings).toContainEqual(expect.objectContaining({ table: 'dim_currency', currencyCode: 'ZZZ' }));
  });

  it('keeps a gapless calendar with ISO weekdays, English names and quarters, widened as facts reach new dates', async () => {
    const first = await runBatch();
    const sampleDates = factDatesOfSample();
    const calendar = await rowsOf(first, 'dim_date', 'date_id');
    expect(calendar[0]!.date_id).toBe(sampleDates[0]);
    expect(calendar.at(-1)!.date_id).toBe(sampleDates.at(-1));
    expect(calendar).toHaveLength(daysBetween(sampleDates[0]!, sampleDates.at(-1)!) + 1);

    await db.sql`UPDATE sales_order SET agreed_payment_date = '2024-03-31', agreed_delivery_date = '2024-04-01', last_updated = now() WHERE sales_order_id = 2`;
    const second = await runBatch();
    const widened = await rowsOf(second, 'dim_date', 'date_id');
    expect(widened[0]!.date_id).toBe(sampleDates[0]);
    expect(String(widened.at(-1)!.date_id) > '2024-04-01').toBe(true); // today's last_updated is in it too
    const days = new Set(widened.map((row) => row.date_id));
    expect(days.size).toBe(widened.length);
    expect(widened).toHaveLength(daysBetween(sampleDates[0]!, String(widened.at(-1)!.date_id)) + 1);
    expect(widened.find((row) => row.date_id === '2024-03-31')).toEqual({
      date_id: '2024-03-31',
      year: 2024,
      month: 3,
      day: 31,
      day_of_week: 7,
      day_name: 'Sunday',
      month_name: 'March',
      quarter: 1,
    });
    expect(widened.find((row) => row.date_id === '2024-04-01')).toEqual({
      date_id: '2024-04-01',
      year: 2024,
      month: 4,
      day: 1,
      day_of_week: 1,
      day_name: 'Monday',
      month_name: 'April',
      quarter: 2,
    });

    await db.sql`UPDATE design SET design_name = 'Oak', last_updated = '2022-12-01 10:00:00' WHERE design_id = 8`;
    const third = await runBatch();
    expect(third.tables.dim_date).toBeUndefined();
  });

  it('keeps every version of a fact across batches, and writes no file for a table the batch did not touch', async () => {
    await runBatch();
    await db.sql`UPDATE sales_order SET units_sold = 100, last_updated = '2023-06-01 12:34:56.789' WHERE sales_order_id = 2`;
    const second = await runBatch();
    expect(Object.keys(second.tables).sort()).toEqual(['dim_date', 'fact_sales_order']);
    expect(await rowsOf(second, 'fact_sales_order', 'sales_order_id')).toEqual([
      expect.objectContaining({ sales_order_id: 2, units_sold: 100, last_updated_date: '2023-06-01', last_updated_time: '12:34:56.789' }),
    ]);
  });

  it('rebuilds dim_location and every dim_counterparty of an address when the address changes', async () => {
    await db.sql`UPDATE counterparty SET legal_address_id = 15, last_updated = '2022-11-04 00:00:00' WHERE counterparty_id = 2`;
    await runBatch();
    await db.sql`UPDATE address SET city = 'Leeds', last_updated = '2023-06-01 09:00:00' WHERE address_id = 15`;
    const batch = await runBatch();
    expect(await rowsOf(batch, 'dim_location', 'location_id')).toEqual([expect.objectContaining({ location_id: 15, city: 'Leeds' })]);
    const counterparties = await rowsOf(batch, 'dim_counterparty', 'counterparty_id');
    expect(counterparties.map((row) => [row.counterparty_id, row.counterparty_legal_city])).toEqual([
      [1, 'Leeds'],
      [2, 'Leeds'],
    ]);
    expect(counterparties[0]).toMatchObject({ counterparty_legal_name: 'Fahey and Sons', counterparty_legal_address_line_1: '605 Haskell Trafficway' });
  });

  it('gives a new counterparty the address that came in an earlier batch', async () => {
    await runBatch();
    await db.sql`INSERT INTO counterparty (counterparty_id, counterparty_legal_name, legal_address_id, created_at, last_updated)
                 VALUES (21, 'Newco Ltd', 15, now(), now())`;
    const batch = await runBatch();
    expect(await rowsOf(batch, 'dim_counterparty', 'counterparty_id')).toEqual([
      expect.objectContaining({ counterparty_id: 21, counterparty_legal_name: 'Newco Ltd', counterparty_legal_city: 'East Bobbie', counterparty_legal_phone_number: '9687 937447' }),
    ]);
  });

  it('rebuilds every dim_staff of a department when the department is renamed', async () => {
    await runBatch();
    await db.sql`UPDATE department SET department_name = 'Procurement', last_updated = now() WHERE department_id = 2`;
    const batch = await runBatch();
    const staff = await rowsOf(batch, 'dim_staff', 'staff_id');
    expect(staff.map((row) => [row.staff_id, row.department_name, row.location])).toEqual([
      [1, 'Procurement', 'Manchester'],
      [7, 'Procurement', 'Manchester'],
      [9, 'Procurement', 'Manchester'],
      [10, 'Procurement', 'Manchester'],
      [19, 'Procurement', 'Manchester'],
    ]);
  });

  it('keeps dimensions right after many batches, when the state has been compacted', async () => {
    await runBatch();
    for (let i = 1; i <= 10; i += 1) {
      await db.sql`UPDATE address SET phone = ${`0000 00000${i}`}, last_updated = now() WHERE address_id = 15`;
      await runBatch();
    }
    const latest = (await readLatestManifest<ProcessedManifest>(lake.s3, lake.processedBucket))!;
    expect(latest.state.sources.address!.length).toBeLessThan(9);
    await db.sql`UPDATE counterparty SET counterparty_legal_name = 'Fahey & Sons', last_updated = now() WHERE counterparty_id = 1`;
    const batch = await runBatch();
    expect(await rowsOf(batch, 'dim_counterparty', 'counterparty_id')).toEqual([
      expect.objectContaining({ counterparty_id: 1, counterparty_legal_name: 'Fahey & Sons', counterparty_legal_phone_number: '0000 0000010' }),
    ]);
  });

  it('is safe to re-run: a transformed batch is never redone and no object is overwritten', async () => {
    const first = await runBatch();
    const keysBefore = await listKeys(lake.s3, lake.processedBucket);
    const again = await transformPendingBatches(deps, first.batchId);
    expect(again).toEqual({ upToBatchId: first.batchId, transformedBatchIds: [], rows: {}, quarantine: NOTHING_HELD });
    expect(await transformBatch(deps, first.batchId, undefined)).toEqual(first);
    expect(await listKeys(lake.s3, lake.processedBucket)).toEqual(keysBefore);
  });

  it('transforms every pending batch in order, and leaves its temp space empty', async () => {
    await extractChangedRows(lake.extractDeps(db.sql));
    await db.sql`UPDATE sales_order SET units_sold = 7, last_updated = now() WHERE sales_order_id = 3`;
    await extractChangedRows(lake.extractDeps(db.sql));
    const result = await transformPendingBatches(deps);
    expect(result.transformedBatchIds).toEqual(['0000000001', '0000000002']);
    expect(result.upToBatchId).toBe('0000000002');
    expect(result.rows.fact_sales_order).toBe(34);
    expect(readdirSync(lake.workRoot)).toEqual([]);
  });
});

/** Every date the sample's facts reference, sorted, computed from the fixture files directly. */
function factDatesOfSample(): string[] {
  const dates = new Set<string>();
  const columns = ['created_at', 'last_updated', 'agreed_delivery_date', 'agreed_payment_date', 'payment_date'];
  for (const table of ['sales_order', 'purchase_order', 'payment']) {
    for (const line of readFileSync(path.join(SAMPLE_DIR, `${table}.jsonl`), 'utf-8').trim().split('\n')) {
      const row = JSON.parse(line) as Record<string, string>;
      for (const column of columns) if (row[column]) dates.add(row[column].slice(0, 10));
    }
  }
  return [...dates].sort();
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

/**
 * The days from the earliest to the latest date of the sample's facts (every date field of the
 * orders and payments, timestamps by their day): what dim_date must hold after the first batch.
 */
function calendarDaysOfSample(): number {
  const fields: Record<string, readonly string[]> = {
    sales_order: ['created_at', 'last_updated', 'agreed_payment_date', 'agreed_delivery_date'],
    purchase_order: ['created_at', 'last_updated', 'agreed_delivery_date', 'agreed_payment_date'],
    payment: ['created_at', 'last_updated', 'payment_date'],
  };
  const days = Object.entries(fields).flatMap(([table, names]) =>
    readFileSync(path.join(SAMPLE_DIR, `${table}.jsonl`), 'utf-8')
      .trim()
      .split('\n')
      .flatMap((line) => names.map((name) => Date.parse(`${String((JSON.parse(line) as Record<string, unknown>)[name]).slice(0, 10)}T00:00:00Z`))),
  );
  return (Math.max(...days) - Math.min(...days)) / 86_400_000 + 1;
}
