import type { ISql, Sql } from 'postgres';
import { TOTESYS_INSERT_ORDER, TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type TotesysTableName } from '../../functions/shared/totesys-tables';
import { copyInto, copyText } from './copy';
import { DESIGN_NAMES, addressFields, companyName, contactName, designFileName, fileLocation, personName, staffEmail } from './fake';
import { PAYMENT_TYPE_IDS, TradingClock, centsText, orderStream, type Dimensions, type Order, type OrderCounts } from './order-stream';
import { hash32, Random } from './random';
import { syncSequences } from './schema';
import { formatTimestamp } from './timestamp';

/**
 * Fills an empty ToteSys schema with a seeded, referentially consistent history shaped like the
 * real database. Scale 1 is about the real database's size; the scale multiplies only the orders
 * and what hangs off them (transactions, payments), as a busier year of the same business would.
 */

export const DEFAULT_SEED = 20221103;

const ORDERS_PER_SCALE = { sales: 13_000, purchases: 5_000 };
const DIMENSIONS: Dimensions = {
  addresses: 30,
  counterparties: 20,
  staff: 20,
  currencies: 3,
  initialDesigns: 8,
  laterDesignMinutes: [],
};
const DESIGNS = 500;
const CURRENCY_CODES = ['GBP', 'USD', 'EUR'];
/** The sample's departments; one location left unset, which the schema allows and the pipeline must carry. */
const DEPARTMENTS: readonly (readonly [string, string | null])[] = [
  ['Sales', 'Manchester'],
  ['Purchasing', 'Manchester'],
  ['Production', 'Leeds'],
  ['Dispatch', 'Leeds'],
  ['Finance', 'Manchester'],
  ['Facilities', 'Manchester'],
  ['Communications', null],
  ['HR', 'Leeds'],
];

/** The real database's reference data was loaded in two batches on 2022-11-03. */
const REFERENCE_DATA_STAMP = Date.UTC(2022, 10, 3, 14, 20, 49, 962);
const PEOPLE_STAMP = Date.UTC(2022, 10, 3, 14, 20, 51, 563);

export interface SeedOptions {
  /** 1 is about the real database (13,000 sales orders); fractions work, with at least one order of each kind. */
  scale: number;
  /** Same scale and seed, same rows, byte for byte. */
  seed?: number;
  onProgress?: (progress: SeedProgress) => void;
}

export interface SeedProgress {
  table: TotesysTableName;
  /** Rows of `table` written so far. */
  rows: number;
  /** Whether `table` is complete. */
  done: boolean;
  elapsedMs: number;
}

export interface SeedResult {
  rows: Record<TotesysTableName, number>;
  totalRows: number;
  elapsedMs: number;
}

/** How many orders of each kind a scale makes. */
export function ordersAtScale(scale: number): OrderCounts {
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`scale must be a positive number, got ${scale}`);
  return {
    sales: Math.max(1, Math.round(ORDERS_PER_SCALE.sales * scale)),
    purchases: Math.max(1, Math.round(ORDERS_PER_SCALE.purchases * scale)),
  };
}

/** Progress is reported about this often within a table, besides when each table is done. */
const PROGRESS_EVERY_ROWS = 100_000;

/**
 * Seeds an empty ToteSys schema in one transaction (all or nothing), streaming every table
 * through COPY, then points the serial sequences past the loaded ids.
 */
export async function seedTotesys(sql: Sql, options: SeedOptions): Promise<SeedResult> {
  const counts = ordersAtScale(options.scale);
  const seed = options.seed ?? DEFAULT_SEED;
  if (!Number.isSafeInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const clock = new TradingClock(seed);
  const dimensions = { ...DIMENSIONS, laterDesignMinutes: laterDesignMinutes(clock, seed) };
  const rows = Object.fromEntries(TOTESYS_TABLE_NAMES.map((table) => [table, 0])) as Record<TotesysTableName, number>;

  await sql.begin(async (tx) => {
    await assertEmpty(tx);
    const foreignKeys = await detachForeignKeys(tx);
    for (const table of TOTESYS_INSERT_ORDER) {
      let reported = 0;
      const lines = tableLines(table, { counts, dimensions, clock, seed });
      rows[table] = await copyInto(tx, table, Object.keys(TOTESYS_TABLES[table].columns), lines, {
        onRows: (sent) => {
          if (sent - reported < PROGRESS_EVERY_ROWS) return;
          reported = sent;
          options.onProgress?.({ table, rows: sent, done: false, elapsedMs: elapsed() });
        },
      });
      options.onProgress?.({ table, rows: rows[table], done: true, elapsedMs: elapsed() });
    }
    await reattachForeignKeys(tx, foreignKeys);
    await syncSequences(tx);
  });

  const totalRows = Object.values(rows).reduce((sum, n) => sum + n, 0);
  return { rows, totalRows, elapsedMs: elapsed() };
}

async function assertEmpty(sql: ISql): Promise<void> {
  for (const table of TOTESYS_TABLE_NAMES) {
    const [row] = await sql`SELECT EXISTS (SELECT 1 FROM ${sql(table)}) AS filled`;
    if (row?.filled) throw new Error(`seeding needs an empty ToteSys schema, but table ${table} has rows`);
  }
}

interface ForeignKey {
  table: string;
  name: string;
  definition: string;
}

/**
 * Checking foreign keys row by row (a trigger and a lookup per reference) made the load about three
 * times slower than checking each key once, with one join, when it is added back after the load.
 * Adding a key back validates every row, and it all happens in the load's transaction, so the
 * schema ends exactly as it began and a bad reference still aborts the seed.
 */
async function detachForeignKeys(sql: ISql): Promise<ForeignKey[]> {
  const foreignKeys = await sql<ForeignKey[]>`
    SELECT c.relname AS table, k.conname AS name, pg_get_constraintdef(k.oid) AS definition
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
    WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace
      AND c.relname IN ${sql([...TOTESYS_TABLE_NAMES])}
    ORDER BY c.relname, k.conname`;
  for (const key of foreignKeys) await sql`ALTER TABLE ${sql(key.table)} DROP CONSTRAINT ${sql(key.name)}`;
  return [...foreignKeys];
}

async function reattachForeignKeys(sql: ISql, foreignKeys: readonly ForeignKey[]): Promise<void> {
  // The definition is PostgreSQL's own text for the constraint, read back from the catalog.
  for (const key of foreignKeys) await sql`ALTER TABLE ${sql(key.table)} ADD CONSTRAINT ${sql(key.name)} ${sql.unsafe(key.definition)}`;
}

interface Plan {
  counts: OrderCounts;
  dimensions: Dimensions;
  clock: TradingClock;
  seed: number;
}

/** The rows of `table`, each line's fields in the order of the table's columns in TOTESYS_TABLES. */
function tableLines(table: TotesysTableName, plan: Plan): Iterable<string> {
  switch (table) {
    case 'address':
      return addressLines(plan.seed);
    case 'department':
      return departmentLines(plan.seed);
    case 'currency':
      return CURRENCY_CODES.map((code, i) => `${i + 1}\t${code}\t${stamp(REFERENCE_DATA_STAMP)}\t${stamp(REFERENCE_DATA_STAMP)}`);
    case 'design':
      return designLines(plan);
    case 'payment_type':
      return Object.entries(PAYMENT_TYPE_IDS).map(([name, id]) => `${id}\t${name}\t${stamp(REFERENCE_DATA_STAMP)}\t${stamp(REFERENCE_DATA_STAMP)}`);
    case 'counterparty':
      return counterpartyLines(plan.seed);
    case 'staff':
      return staffLines(plan.seed);
    case 'sales_order':
      return salesOrderLines(orderStream(plan.counts, plan.dimensions, plan.clock, plan.seed));
    case 'purchase_order':
      return purchaseOrderLines(orderStream(plan.counts, plan.dimensions, plan.clock, plan.seed));
    case 'transaction':
      return transactionLines(orderStream(plan.counts, plan.dimensions, plan.clock, plan.seed));
    case 'payment':
      return paymentLines(orderStream(plan.counts, plan.dimensions, plan.clock, plan.seed));
  }
}

/**
 * A separate random stream per table, so that changing how one table is made leaves the others as
 * they were. The stream numbers are part of what a seed makes, so they are fixed here, not taken
 * from a table's place in a list (they are 100 plus the table's place in the insert order as it
 * was once written out by hand).
 */
const RANDOM_STREAMS = { address: 100, department: 101, design: 103, counterparty: 105, staff: 106 } as const satisfies Partial<Record<TotesysTableName, number>>;

function randomFor(table: keyof typeof RANDOM_STREAMS, seed: number): Random {
  return new Random(hash32(seed, RANDOM_STREAMS[table]));
}

const stamp = formatTimestamp;

function textLine(values: readonly (string | number | null)[]): string {
  return values.map((value) => (typeof value === 'number' ? String(value) : copyText(value))).join('\t');
}

function* addressLines(seed: number): Generator<string> {
  const random = randomFor('address', seed);
  for (let id = 1; id <= DIMENSIONS.addresses; id++) {
    const a = addressFields(random);
    yield textLine([id, a.address_line_1, a.address_line_2, a.district, a.city, a.postal_code, a.country, a.phone, stamp(REFERENCE_DATA_STAMP), stamp(REFERENCE_DATA_STAMP)]);
  }
}

function* departmentLines(seed: number): Generator<string> {
  const random = randomFor('department', seed);
  for (const [i, [name, location]] of DEPARTMENTS.entries()) {
    const manager = personName(random);
    yield textLine([i + 1, name, location, `${manager.first} ${manager.last}`, stamp(REFERENCE_DATA_STAMP), stamp(REFERENCE_DATA_STAMP)]);
  }
}

/** The trading minute each design after the initial ones was added, in id order. */
function laterDesignMinutes(clock: TradingClock, seed: number): number[] {
  const random = new Random(hash32(seed, 4));
  const later = DESIGNS - DIMENSIONS.initialDesigns;
  return Array.from({ length: later }, (_, i) => Math.floor(((i + random.next()) * clock.minutes) / later));
}

function* designLines(plan: Plan): Generator<string> {
  const random = randomFor('design', plan.seed);
  const createdAt = (id: number) =>
    id <= plan.dimensions.initialDesigns ? REFERENCE_DATA_STAMP : plan.clock.stamp(plan.dimensions.laterDesignMinutes[id - plan.dimensions.initialDesigns - 1] as number);
  for (let id = 1; id <= DESIGNS; id++) {
    const at = createdAt(id);
    const name = random.pick(DESIGN_NAMES);
    yield textLine([id, name, fileLocation(random), designFileName(random, name, at), stamp(at), stamp(at)]);
  }
}

function* counterpartyLines(seed: number): Generator<string> {
  const random = randomFor('counterparty', seed);
  for (let id = 1; id <= DIMENSIONS.counterparties; id++) {
    const name = companyName(random);
    const addressId = random.int(1, DIMENSIONS.addresses);
    yield textLine([id, name, addressId, contactName(random), contactName(random), stamp(PEOPLE_STAMP), stamp(PEOPLE_STAMP)]);
  }
}

function* staffLines(seed: number): Generator<string> {
  const random = randomFor('staff', seed);
  const emails = new Set<string>();
  for (let id = 1; id <= DIMENSIONS.staff; id++) {
    // Email addresses are built from names, so two people of the same name would share one.
    let person = personName(random);
    while (emails.has(staffEmail(person.first, person.last))) person = personName(random);
    const email = staffEmail(person.first, person.last);
    emails.add(email);
    yield textLine([id, person.first, person.last, random.int(1, DEPARTMENTS.length), email, stamp(PEOPLE_STAMP), stamp(PEOPLE_STAMP)]);
  }
}

// Order rows: every value is a number or generated text without tabs, newlines or backslashes,
// so they are joined directly; at a million rows the escaping pass would be measurable.

function* salesOrderLines(orders: Iterable<Order>): Generator<string> {
  for (const o of orders) {
    if (o.kind !== 'SALE') continue;
    yield `${o.orderId}\t${o.designId}\t${o.staffId}\t${o.counterpartyId}\t${o.unitsSold}\t${centsText(o.unitPriceCents)}\t${o.currencyId}\t${o.agreedDeliveryDate}\t${o.agreedPaymentDate}\t${o.deliveryLocationId}\t${stamp(o.createdAt)}\t${stamp(o.lastUpdated)}`;
  }
}

function* purchaseOrderLines(orders: Iterable<Order>): Generator<string> {
  for (const o of orders) {
    if (o.kind !== 'PURCHASE') continue;
    yield `${o.orderId}\t${o.staffId}\t${o.counterpartyId}\t${o.itemCode}\t${o.itemQuantity}\t${centsText(o.itemUnitPriceCents)}\t${o.currencyId}\t${o.agreedDeliveryDate}\t${o.agreedPaymentDate}\t${o.deliveryLocationId}\t${stamp(o.createdAt)}\t${stamp(o.lastUpdated)}`;
  }
}

function* transactionLines(orders: Iterable<Order>): Generator<string> {
  for (const o of orders) {
    const created = stamp(o.createdAt);
    yield o.kind === 'SALE'
      ? `${o.transactionId}\tSALE\t${o.orderId}\t\\N\t${created}\t${created}`
      : `${o.transactionId}\tPURCHASE\t\\N\t${o.orderId}\t${created}\t${created}`;
  }
}

function* paymentLines(orders: Iterable<Order>): Generator<string> {
  for (const o of orders) {
    const p = o.payment;
    yield `${o.transactionId}\t${o.transactionId}\t${o.counterpartyId}\t${centsText(p.amountCents)}\t${o.currencyId}\t${p.paymentTypeId}\t${p.paid ? 't' : 'f'}\t${p.paymentDate}\t${p.companyAccount}\t${p.counterpartyAccount}\t${stamp(p.createdAt)}\t${stamp(p.lastUpdated)}`;
  }
}
