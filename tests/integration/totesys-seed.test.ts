import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Sql } from 'postgres';
import { applyActivity, WRITE_KINDS, type ActivitySummary } from '../../scripts/totesys/activity';
import { seedTotesys } from '../../scripts/totesys/generate';
import { loadSample } from '../../scripts/totesys/sample';
import { TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type TotesysTableName } from '../../functions/shared/totesys-tables';
import { createTotesysSchema } from '../../scripts/totesys/schema';
import { formatTimestamp } from '../../scripts/totesys/timestamp';
import { useTestDatabase } from '../support/database';

const SAMPLE_DIR = path.join(__dirname, '../fixtures/totesys-sample');
const FOREIGN_KEYS_IN_SCHEMA = 17;

async function rowCounts(sql: Sql): Promise<Record<TotesysTableName, number>> {
  const counts = {} as Record<TotesysTableName, number>;
  for (const table of TOTESYS_TABLE_NAMES) {
    const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ${sql(table)}`;
    counts[table] = row!.n;
  }
  return counts;
}

/** A digest of every table's full contents, in id order. */
async function contentDigests(sql: Sql): Promise<Record<TotesysTableName, string>> {
  const digests = {} as Record<TotesysTableName, string>;
  for (const table of TOTESYS_TABLE_NAMES) {
    const [row] = await sql<{ digest: string }[]>`
      SELECT md5(string_agg(t::text, '' ORDER BY ${sql(TOTESYS_TABLES[table].primaryKey)})) AS digest FROM ${sql(table)} t`;
    digests[table] = row!.digest;
  }
  return digests;
}

async function maxIds(sql: Sql): Promise<Record<TotesysTableName, number>> {
  const ids = {} as Record<TotesysTableName, number>;
  for (const table of TOTESYS_TABLE_NAMES) {
    const key = TOTESYS_TABLES[table].primaryKey;
    const [row] = await sql<{ max: number }[]>`SELECT coalesce(max(${sql(key)}), 0)::int AS max FROM ${sql(table)}`;
    ids[table] = row!.max;
  }
  return ids;
}

/**
 * Rows that break what ToteSys keeps true beyond its foreign keys, by rule; every list should be
 * empty. Each query names the offending ids so that a failure says where.
 */
async function consistencyBreaches(sql: Sql): Promise<Record<string, unknown[]>> {
  const ids = async (query: Promise<{ id: number }[]>) => (await query).map((row) => row.id);
  const breaches: Record<string, unknown[]> = {
    'SALE transaction without exactly a sales order': await ids(sql`
      SELECT transaction_id AS id FROM transaction
      WHERE transaction_type = 'SALE' AND (sales_order_id IS NULL OR purchase_order_id IS NOT NULL)`),
    'PURCHASE transaction without exactly a purchase order': await ids(sql`
      SELECT transaction_id AS id FROM transaction
      WHERE transaction_type = 'PURCHASE' AND (purchase_order_id IS NULL OR sales_order_id IS NOT NULL)`),
    'sales order without a transaction': await ids(sql`
      SELECT sales_order_id AS id FROM sales_order s
      WHERE NOT EXISTS (SELECT 1 FROM transaction t WHERE t.sales_order_id = s.sales_order_id)`),
    'purchase order without a transaction': await ids(sql`
      SELECT purchase_order_id AS id FROM purchase_order p
      WHERE NOT EXISTS (SELECT 1 FROM transaction t WHERE t.purchase_order_id = p.purchase_order_id)`),
    'transaction without a payment': await ids(sql`
      SELECT transaction_id AS id FROM transaction t
      WHERE NOT EXISTS (SELECT 1 FROM payment p WHERE p.transaction_id = t.transaction_id)`),
    'payment whose counterparty or currency is not its order’s': await ids(sql`
      SELECT p.payment_id AS id FROM payment p
      JOIN transaction t USING (transaction_id)
      LEFT JOIN sales_order s ON s.sales_order_id = t.sales_order_id
      LEFT JOIN purchase_order o ON o.purchase_order_id = t.purchase_order_id
      WHERE p.counterparty_id <> coalesce(s.counterparty_id, o.counterparty_id)
         OR p.currency_id <> coalesce(s.currency_id, o.currency_id)`),
    'payment type that does not fit the transaction': await ids(sql`
      SELECT p.payment_id AS id FROM payment p
      JOIN transaction t USING (transaction_id)
      JOIN payment_type pt USING (payment_type_id)
      WHERE (t.transaction_type = 'SALE') <> (pt.payment_type_name IN ('SALES_RECEIPT', 'SALES_REFUND'))`),
    'account number that is not 8 digits': await ids(sql`
      SELECT payment_id AS id FROM payment
      WHERE company_ac_number NOT BETWEEN 10000000 AND 99999999 OR counterparty_ac_number NOT BETWEEN 10000000 AND 99999999`),
    'order referencing a design made after it': await ids(sql`
      SELECT s.sales_order_id AS id FROM sales_order s JOIN design d USING (design_id) WHERE d.created_at > s.created_at`),
  };
  for (const table of TOTESYS_TABLE_NAMES) {
    breaches[`${table} updated before it was created`] = await ids(sql`
      SELECT ${sql(TOTESYS_TABLES[table].primaryKey)} AS id FROM ${sql(table)} WHERE last_updated < created_at`);
  }
  return breaches;
}

const noBreaches = (breaches: Record<string, unknown[]>) => Object.fromEntries(Object.keys(breaches).map((rule) => [rule, []]));

async function foreignKeyCount(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_constraint
    WHERE contype = 'f' AND convalidated AND connamespace = current_schema()::regnamespace`;
  return row!.n;
}

// Every database is seeded at once before the suites: each COPY waits on TCP acknowledgements
// (the client does not set TCP_NODELAY), time that overlaps when the seeds run side by side.
const first = useTestDatabase('seed_first');
const second = useTestDatabase('seed_second');
const otherSeed = useTestDatabase('seed_other');
const tiny = useTestDatabase('seed_tiny');
const scaleOne = useTestDatabase('seed_scale_one');
const busy = useTestDatabase('seed_activity');
const SMALL_SCALE = 0.05;

beforeAll(async () => {
  const seed = async (db: { sql: Sql }, scale: number, seed?: number) => {
    await createTotesysSchema(db.sql);
    await seedTotesys(db.sql, { scale, seed });
  };
  await Promise.all([
    seed(first, SMALL_SCALE, 42),
    seed(second, SMALL_SCALE, 42),
    seed(otherSeed, SMALL_SCALE, 43),
    seed(tiny, 0.00001),
    seed(scaleOne, 1),
    seed(busy, 0.02, 9),
  ]);
});

describe('seeding ToteSys at a small scale', () => {
  it('makes orders, transactions and payments in proportion to the scale, over fixed reference data', async () => {
    expect(await rowCounts(first.sql)).toEqual({
      address: 30,
      department: 8,
      currency: 3,
      design: 500,
      payment_type: 4,
      counterparty: 20,
      staff: 20,
      sales_order: 650,
      purchase_order: 250,
      transaction: 900,
      payment: 900,
    });
  });

  it('gives every order one transaction and one payment that agree with it, and keeps every foreign key', async () => {
    const breaches = await consistencyBreaches(first.sql);
    expect(breaches).toEqual(noBreaches(breaches));
    expect(await foreignKeyCount(first.sql)).toBe(FOREIGN_KEYS_IN_SCHEMA);
  });

  it('charges each payment its order’s quantity times price', async () => {
    const [row] = await first.sql<{ wrong: number }[]>`
      SELECT count(*)::int AS wrong FROM payment p
      JOIN transaction t USING (transaction_id)
      LEFT JOIN sales_order s ON s.sales_order_id = t.sales_order_id
      LEFT JOIN purchase_order o ON o.purchase_order_id = t.purchase_order_id
      WHERE p.payment_amount <> coalesce(s.units_sold * s.unit_price, o.item_quantity * o.item_unit_price)`;
    expect(row!.wrong).toBe(0);
  });

  it('gives identical contents for the same scale and seed, and different ones for another seed', async () => {
    const [a, b, c] = await Promise.all([contentDigests(first.sql), contentDigests(second.sql), contentDigests(otherSeed.sql)]);
    expect(b).toEqual(a);
    for (const table of ['address', 'sales_order', 'purchase_order', 'payment'] as const) expect(c[table]).not.toBe(a[table]);
  });

  it('points every sequence past the loaded ids, so the application’s next insert fits', async () => {
    const max = await maxIds(first.sql);
    for (const table of TOTESYS_TABLE_NAMES) {
      const [row] = await first.sql<{ next: number }[]>`
        SELECT nextval(pg_get_serial_sequence(${`"${table}"`}, ${TOTESYS_TABLES[table].primaryKey}))::int AS next`;
      expect({ table, next: row!.next }).toEqual({ table, next: max[table] + 1 });
    }
  });

  it('refuses a schema that already has rows', async () => {
    await expect(seedTotesys(second.sql, { scale: SMALL_SCALE, seed: 42 })).rejects.toThrow(/empty ToteSys schema/);
  });

  it('makes at least one order of each kind at a tiny scale', async () => {
    expect(await rowCounts(tiny.sql)).toMatchObject({ sales_order: 1, purchase_order: 1, transaction: 2, payment: 2 });
    const breaches = await consistencyBreaches(tiny.sql);
    expect(breaches).toEqual(noBreaches(breaches));
  });
});

describe('seeding ToteSys at scale 1', () => {
  const db = scaleOne;

  it('has about the real database’s row counts', async () => {
    const counts = await rowCounts(db.sql);
    expect(counts).toMatchObject({ address: 30, counterparty: 20, department: 8, staff: 20, currency: 3, payment_type: 4 });
    const about = (expected: number) => [Math.floor(expected * 0.9), Math.ceil(expected * 1.1)];
    for (const [table, expected] of Object.entries({ design: 500, sales_order: 13_000, purchase_order: 5_000, transaction: 18_000, payment: 18_000 })) {
      const [low, high] = about(expected);
      expect({ table, inRange: counts[table as TotesysTableName] >= low! && counts[table as TotesysTableName] <= high! }).toEqual({ table, inRange: true });
    }
  });

  it('stamps many rows with the same last_updated, as the application’s batches do', async () => {
    const [payments] = await db.sql<{ sharing: number; total: number; largest: number }[]>`
      SELECT sum(n) FILTER (WHERE n > 1)::int AS sharing, sum(n)::int AS total, max(n)::int AS largest
      FROM (SELECT count(*) AS n FROM payment GROUP BY last_updated) stamps`;
    expect(payments!.sharing / payments!.total).toBeGreaterThan(0.5);
    expect(payments!.largest).toBeGreaterThanOrEqual(10);
    const [reference] = await db.sql<{ stamps: number }[]>`
      SELECT count(DISTINCT last_updated)::int AS stamps FROM (SELECT last_updated FROM address UNION ALL SELECT last_updated FROM currency) t`;
    expect(reference!.stamps).toBe(1);
  });

  it('spreads the history from 2022-11-03 over more than two years, to the millisecond', async () => {
    const [span] = await db.sql<{ first: string; last: string; years: number; fractional: number }[]>`
      SELECT min(created_at)::text AS first, max(last_updated)::text AS last,
             count(DISTINCT extract(year FROM created_at))::int AS years,
             count(*) FILTER (WHERE extract(milliseconds FROM created_at)::numeric % 1000 <> 0)::int AS fractional
      FROM sales_order`;
    expect(span!.first.slice(0, 10)).toBe('2022-11-03');
    expect(span!.last >= '2025-01-01' && span!.last < '2026-01-01').toBe(true);
    expect(span!.years).toBeGreaterThanOrEqual(3);
    expect(span!.fractional).toBeGreaterThan(12_000);
  });

  it('writes agreed and payment dates as YYYY-MM-DD text a few days after the order', async () => {
    const [row] = await db.sql<{ malformed: number; far: number }[]>`
      SELECT count(*) FILTER (WHERE d !~ '^\\d{4}-\\d{2}-\\d{2}$')::int AS malformed,
             count(*) FILTER (WHERE d ~ '^\\d{4}-\\d{2}-\\d{2}$' AND (d::date - created_at::date) NOT BETWEEN 0 AND 7)::int AS far
      FROM (
        SELECT agreed_delivery_date AS d, created_at FROM sales_order UNION ALL
        SELECT agreed_payment_date, created_at FROM sales_order UNION ALL
        SELECT agreed_delivery_date, created_at FROM purchase_order UNION ALL
        SELECT agreed_payment_date, created_at FROM purchase_order UNION ALL
        SELECT payment_date, created_at FROM payment
      ) dates`;
    expect(row).toEqual({ malformed: 0, far: 0 });
  });

  it('makes values shaped like the real ones', async () => {
    const [row] = await db.sql`
      SELECT
        (SELECT count(*)::int FROM purchase_order WHERE item_code !~ '^[A-Z0-9]{7}$') AS bad_item_codes,
        (SELECT count(*)::int FROM sales_order WHERE unit_price NOT BETWEEN 2 AND 4) AS bad_unit_prices,
        (SELECT count(*)::int FROM purchase_order WHERE item_unit_price NOT BETWEEN 1 AND 1000) AS bad_item_prices,
        (SELECT count(*)::int FROM staff WHERE email_address <> lower(regexp_replace(first_name, '[^A-Za-z]', '', 'g')) || '.'
           || lower(regexp_replace(last_name, '[^A-Za-z]', '', 'g')) || '@terrifictotes.com') AS bad_emails,
        (SELECT count(*)::int FROM design WHERE file_name !~ ('^' || lower(design_name) || '-\\d{8}-[a-z0-9]{4}\\.json$')
           OR file_location !~ '^/') AS bad_designs,
        (SELECT string_agg(currency_code, ',' ORDER BY currency_id) FROM currency) AS currencies,
        (SELECT string_agg(payment_type_name::text, ',' ORDER BY payment_type_id) FROM payment_type) AS payment_types,
        (SELECT string_agg(department_name, ',' ORDER BY department_id) FROM department) AS departments`;
    expect(row).toEqual({
      bad_item_codes: 0,
      bad_unit_prices: 0,
      bad_item_prices: 0,
      bad_emails: 0,
      bad_designs: 0,
      currencies: 'GBP,USD,EUR',
      payment_types: 'SALES_RECEIPT,SALES_REFUND,PURCHASE_PAYMENT,PURCHASE_REFUND',
      departments: 'Sales,Purchasing,Production,Dispatch,Finance,Facilities,Communications,HR',
    });
  });
});

describe('ToteSys activity', () => {
  const db = busy;
  const writes = 400;
  let before: Record<TotesysTableName, number>;
  let start: string;
  let end: string;
  let summary: ActivitySummary;

  beforeAll(async () => {
    before = await maxIds(db.sql);
    start = formatTimestamp(Date.now());
    summary = await applyActivity(db.sql, { writes, seed: 3 });
    end = formatTimestamp(Date.now());
  });

  it('changes exactly the rows its summary reports, each stamped with the application’s clock', async () => {
    for (const table of TOTESYS_TABLE_NAMES) {
      const key = TOTESYS_TABLES[table].primaryKey;
      const [row] = await db.sql<{ changed: number; created: number; new_ids: number; outside: number }[]>`
        SELECT count(*) FILTER (WHERE last_updated >= ${start})::int AS changed,
               count(*) FILTER (WHERE created_at >= ${start})::int AS created,
               count(*) FILTER (WHERE ${db.sql(key)} > ${before[table]})::int AS new_ids,
               count(*) FILTER (WHERE last_updated >= ${start} AND last_updated > ${end})::int AS outside
        FROM ${db.sql(table)}`;
      const expected = summary.inserted[table] + summary.updated[table];
      expect({ table, ...row }).toEqual({ table, changed: expected, created: summary.inserted[table], new_ids: summary.inserted[table], outside: 0 });
    }
  });

  it('performs the writes asked for, including every kind of insert and update', () => {
    expect(summary.writes).toBe(writes);
    expect(Object.values(summary.byKind).reduce((sum, n) => sum + n, 0)).toBe(writes);
    for (const kind of WRITE_KINDS) expect({ kind, happened: summary.byKind[kind] > 0 }).toEqual({ kind, happened: true });
    for (const table of ['address', 'department', 'staff', 'sales_order', 'purchase_order', 'payment'] as const) {
      expect({ table, updated: summary.updated[table] > 0 }).toEqual({ table, updated: true });
    }
    expect(summary.inserted.transaction).toBe(summary.inserted.sales_order + summary.inserted.purchase_order);
    expect(summary.inserted.payment).toBe(summary.inserted.transaction);
  });

  it('inserts each new order with its transaction and payment, stamped together, and keeps the data consistent', async () => {
    const breaches = await consistencyBreaches(db.sql);
    expect(breaches).toEqual(noBreaches(breaches));
    expect(await foreignKeyCount(db.sql)).toBe(FOREIGN_KEYS_IN_SCHEMA);
    const [row] = await db.sql<{ mismatched: number }[]>`
      SELECT count(*)::int AS mismatched FROM payment p JOIN transaction t USING (transaction_id)
      WHERE p.created_at >= ${start} AND (p.created_at <> t.created_at OR p.last_updated <> p.created_at OR p.paid)`;
    expect(row!.mismatched).toBe(0);
  });

  it('settles payments by marking them paid on the day of the write', async () => {
    const settled = await db.sql<{ paid: boolean; payment_date: string }[]>`
      SELECT paid, payment_date FROM payment WHERE last_updated >= ${start} AND created_at < ${start}`;
    expect(settled.length).toBe(summary.updated.payment);
    for (const payment of settled) {
      expect(payment.paid).toBe(true);
      expect([start.slice(0, 10), end.slice(0, 10)]).toContain(payment.payment_date);
    }
  });

  it('moves counterparties by rewriting their legal address rows', async () => {
    const [row] = await db.sql<{ moved: number; not_legal: number }[]>`
      SELECT count(*)::int AS moved,
             count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM counterparty c WHERE c.legal_address_id = a.address_id))::int AS not_legal
      FROM address a WHERE last_updated >= ${start}`;
    expect(row).toEqual({ moved: summary.updated.address, not_legal: 0 });
  });
});

describe('the ToteSys sample', () => {
  const db = useTestDatabase('seed_sample');
  const fixtureRows = (table: TotesysTableName) =>
    readFileSync(path.join(SAMPLE_DIR, `${table}.jsonl`), 'utf-8')
      .split('\n')
      .filter((line) => line.trim() !== '').length;

  beforeAll(async () => {
    await createTotesysSchema(db.sql);
  });

  it('loads with the row counts of the fixture files', async () => {
    const loaded = await loadSample(db.sql, SAMPLE_DIR);
    const expected = Object.fromEntries(TOTESYS_TABLE_NAMES.map((table) => [table, fixtureRows(table)]));
    expect(loaded).toEqual(expected);
    expect(await rowCounts(db.sql)).toEqual(expected);
    const [kept] = await db.sql`SELECT last_updated::text AS stamp, payment_amount::text AS amount FROM payment WHERE payment_id = 2`;
    expect(kept).toEqual({ stamp: '2022-11-03 14:20:52.187', amount: '552548.62' });
  });

  it('takes application writes afterwards, though its ids have gaps', async () => {
    const before = await rowCounts(db.sql);
    const summary = await applyActivity(db.sql, { writes: 60, seed: 1 });
    const after = await rowCounts(db.sql);
    for (const table of TOTESYS_TABLE_NAMES) expect({ table, rows: after[table] }).toEqual({ table, rows: before[table] + summary.inserted[table] });
    expect(summary.inserted.sales_order).toBeGreaterThan(0);
  });
});
