import type { ISql, Sql } from 'postgres';
import { TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type TotesysTableName } from '../../functions/shared/totesys-tables';
import { accountNumber, addressFields, itemCode, staffEmail } from './fake';
import { DEFAULT_SEED } from './generate';
import { PURCHASE_RANGE, SALE_RANGE, centsText, paymentCents } from './order-stream';
import { hash32, Random } from './random';
import { DAY_MS, formatDate, formatTimestamp } from './timestamp';

/**
 * Writes to a seeded ToteSys the way its application does: each write one short transaction,
 * every row it inserts or changes stamped with the application's clock. This is what the
 * pipeline's change capture must pick up between runs.
 */

export const WRITE_KINDS = [
  'sales_order_placed',
  'purchase_order_placed',
  'sales_order_amended',
  'purchase_order_amended',
  'payment_settled',
  'counterparty_moved',
  'department_renamed',
  'staff_email_changed',
] as const;

export type WriteKind = (typeof WRITE_KINDS)[number];

/** How often each kind of write happens: mostly orders coming in and payments clearing. */
const WEIGHTS: Readonly<Record<WriteKind, number>> = {
  sales_order_placed: 30,
  purchase_order_placed: 15,
  sales_order_amended: 15,
  purchase_order_amended: 8,
  payment_settled: 18,
  counterparty_moved: 5,
  department_renamed: 4,
  staff_email_changed: 5,
};

/** Departments are renamed back and forth between these names. */
const DEPARTMENT_RENAMES: readonly (readonly [string, string])[] = [
  ['Sales', 'Sales & Marketing'],
  ['Purchasing', 'Procurement'],
  ['Production', 'Manufacturing'],
  ['Dispatch', 'Logistics'],
  ['Finance', 'Accounts'],
  ['Facilities', 'Estates'],
  ['Communications', 'Marketing & Communications'],
  ['HR', 'People'],
];

export interface ActivityOptions {
  writes: number;
  /** Same seed, same sequence of writes and values (the ids they land on depend on the database). */
  seed?: number;
  /** The application's clock; defaults to the real one. */
  now?: () => Date;
}

export interface ActivitySummary {
  writes: number;
  byKind: Record<WriteKind, number>;
  /** Rows inserted per table. */
  inserted: Record<TotesysTableName, number>;
  /**
   * Rows updated per table: distinct rows that existed before the run (a row changed by two
   * writes counts once), so that it equals the rows whose last_updated moved.
   */
  updated: Record<TotesysTableName, number>;
}

/** What one run may reference and change, read once at the start. */
interface World {
  addressIds: number[];
  counterpartyIds: number[];
  staffIds: number[];
  departmentIds: number[];
  designIds: number[];
  currencyIds: number[];
  paymentTypeIds: Record<string, number>;
  /** Order and payment ids at the start: updates touch only rows older than the run. */
  salesOrders: IdRange | null;
  purchaseOrders: IdRange | null;
  payments: IdRange | null;
}

interface IdRange {
  min: number;
  max: number;
}

export async function applyActivity(sql: Sql, options: ActivityOptions): Promise<ActivitySummary> {
  if (!Number.isSafeInteger(options.writes) || options.writes < 0) throw new Error(`writes must be a whole number, got ${options.writes}`);
  const seed = options.seed ?? DEFAULT_SEED;
  const now = options.now ?? (() => new Date());
  const random = new Random(hash32(seed, 200));
  const world = await readWorld(sql);

  const byKind = Object.fromEntries(WRITE_KINDS.map((kind) => [kind, 0])) as Record<WriteKind, number>;
  const inserted = Object.fromEntries(TOTESYS_TABLE_NAMES.map((table) => [table, 0])) as Record<TotesysTableName, number>;
  const updatedIds = new Map<TotesysTableName, Set<number>>(TOTESYS_TABLE_NAMES.map((table) => [table, new Set()]));
  const record: Recorder = {
    inserted: (table) => inserted[table]++,
    updated: (table, id) => updatedIds.get(table)?.add(id),
  };

  for (let i = 0; i < options.writes; i++) {
    let kind = pickKind(random);
    const at = now().getTime();
    const write: Write = { sql, random, world, at, stamp: formatTimestamp(at), record };
    // A write that finds nothing to change (no open payment left, say) takes a new order instead.
    if (!(await WRITERS[kind](write))) {
      kind = 'sales_order_placed';
      await placeSalesOrder(write);
    }
    byKind[kind]++;
  }

  const updated = Object.fromEntries(TOTESYS_TABLE_NAMES.map((table) => [table, updatedIds.get(table)?.size ?? 0])) as Record<
    TotesysTableName,
    number
  >;
  return { writes: options.writes, byKind, inserted, updated };
}

function pickKind(random: Random): WriteKind {
  const total = WRITE_KINDS.reduce((sum, kind) => sum + WEIGHTS[kind], 0);
  let roll = random.next() * total;
  for (const kind of WRITE_KINDS) {
    roll -= WEIGHTS[kind];
    if (roll < 0) return kind;
  }
  return WRITE_KINDS[0];
}

interface Recorder {
  inserted(table: TotesysTableName): void;
  updated(table: TotesysTableName, id: number): void;
}

interface Write {
  sql: Sql;
  random: Random;
  world: World;
  /** The application's clock at this write (epoch ms), and as ToteSys stores it. */
  at: number;
  stamp: string;
  record: Recorder;
}

/** Each writer performs one write in its own transaction; false when there was nothing to change. */
const WRITERS: Readonly<Record<WriteKind, (write: Write) => Promise<boolean>>> = {
  sales_order_placed: placeSalesOrder,
  purchase_order_placed: placePurchaseOrder,
  sales_order_amended: amendSalesOrder,
  purchase_order_amended: amendPurchaseOrder,
  payment_settled: settlePayment,
  counterparty_moved: moveCounterparty,
  department_renamed: renameDepartment,
  staff_email_changed: changeStaffEmail,
};

async function readWorld(sql: Sql): Promise<World> {
  const ids = async (table: TotesysTableName): Promise<number[]> =>
    (await sql<{ id: number }[]>`SELECT ${sql(TOTESYS_TABLES[table].primaryKey)} AS id FROM ${sql(table)} ORDER BY 1`).map((row) => row.id);
  const range = async (table: TotesysTableName): Promise<IdRange | null> => {
    const key = TOTESYS_TABLES[table].primaryKey;
    const [row] = await sql<{ min: number | null; max: number | null }[]>`SELECT min(${sql(key)}) AS min, max(${sql(key)}) AS max FROM ${sql(table)}`;
    return row?.min != null && row.max != null ? { min: row.min, max: row.max } : null;
  };
  const paymentTypes = await sql<{ id: number; name: string }[]>`SELECT payment_type_id AS id, payment_type_name AS name FROM payment_type`;
  const world: World = {
    addressIds: await ids('address'),
    counterpartyIds: await ids('counterparty'),
    staffIds: await ids('staff'),
    departmentIds: await ids('department'),
    designIds: await ids('design'),
    currencyIds: await ids('currency'),
    paymentTypeIds: Object.fromEntries(paymentTypes.map((row) => [row.name, row.id])),
    salesOrders: await range('sales_order'),
    purchaseOrders: await range('purchase_order'),
    payments: await range('payment'),
  };
  const references = { address: world.addressIds, counterparty: world.counterpartyIds, staff: world.staffIds, design: world.designIds, currency: world.currencyIds };
  for (const [table, list] of Object.entries(references)) {
    if (list.length === 0) throw new Error(`activity needs a seeded ToteSys, but table ${table} is empty`);
  }
  for (const name of ['SALES_RECEIPT', 'PURCHASE_PAYMENT']) {
    if (!world.paymentTypeIds[name]) throw new Error(`activity needs a seeded ToteSys, but payment type ${name} is missing`);
  }
  return world;
}

/** A day a few days after the write, as ToteSys's text dates hold it. */
function daysAhead(write: Write, min: number, max: number): string {
  return formatDate(write.at + write.random.int(min, max) * DAY_MS);
}

interface NewOrder {
  staffId: number;
  counterpartyId: number;
  currencyId: number;
  locationId: number;
  deliveryDate: string;
  paymentDate: string;
}

function newOrder(write: Write): NewOrder {
  const { random, world } = write;
  return {
    staffId: random.pick(world.staffIds),
    counterpartyId: random.pick(world.counterpartyIds),
    currencyId: random.pick(world.currencyIds),
    locationId: random.pick(world.addressIds),
    deliveryDate: daysAhead(write, 0, 7),
    paymentDate: daysAhead(write, 1, 6),
  };
}

/** The transaction and the payment that come with every new order, in the order's own transaction. */
async function insertTransactionAndPayment(
  tx: ISql,
  write: Write,
  order: NewOrder,
  link: { type: 'SALE'; salesOrderId: number } | { type: 'PURCHASE'; purchaseOrderId: number },
  amountCents: number,
): Promise<void> {
  const { stamp, world, random } = write;
  const salesOrderId = link.type === 'SALE' ? link.salesOrderId : null;
  const purchaseOrderId = link.type === 'PURCHASE' ? link.purchaseOrderId : null;
  const [transaction] = await tx<{ id: number }[]>`
    INSERT INTO transaction (transaction_type, sales_order_id, purchase_order_id, created_at, last_updated)
    VALUES (${link.type}, ${salesOrderId}, ${purchaseOrderId}, ${stamp}, ${stamp})
    RETURNING transaction_id AS id`;
  const paymentTypeId = world.paymentTypeIds[link.type === 'SALE' ? 'SALES_RECEIPT' : 'PURCHASE_PAYMENT'] as number;
  await tx`
    INSERT INTO payment (created_at, last_updated, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id,
                         paid, payment_date, company_ac_number, counterparty_ac_number)
    VALUES (${stamp}, ${stamp}, ${transaction!.id}, ${order.counterpartyId}, ${centsText(amountCents)}, ${order.currencyId}, ${paymentTypeId},
            false, ${order.paymentDate}, ${accountNumber(random)}, ${accountNumber(random)})`;
  write.record.inserted('transaction');
  write.record.inserted('payment');
}

async function placeSalesOrder(write: Write): Promise<boolean> {
  const { random, stamp } = write;
  const order = newOrder(write);
  const designId = random.pick(write.world.designIds);
  const units = random.int(...SALE_RANGE.units);
  const priceCents = random.int(...SALE_RANGE.priceCents);
  await write.sql.begin(async (tx) => {
    const [row] = await tx<{ id: number }[]>`
      INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,
                               agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
      VALUES (${stamp}, ${stamp}, ${designId}, ${order.staffId}, ${order.counterpartyId}, ${units}, ${centsText(priceCents)}, ${order.currencyId},
              ${order.deliveryDate}, ${order.paymentDate}, ${order.locationId})
      RETURNING sales_order_id AS id`;
    await insertTransactionAndPayment(tx, write, order, { type: 'SALE', salesOrderId: row!.id }, paymentCents(units, priceCents));
  });
  write.record.inserted('sales_order');
  return true;
}

async function placePurchaseOrder(write: Write): Promise<boolean> {
  const { random, stamp } = write;
  const order = newOrder(write);
  const code = itemCode(random);
  const quantity = random.int(...PURCHASE_RANGE.quantity);
  const priceCents = random.int(...PURCHASE_RANGE.priceCents);
  await write.sql.begin(async (tx) => {
    const [row] = await tx<{ id: number }[]>`
      INSERT INTO purchase_order (created_at, last_updated, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id,
                                  agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
      VALUES (${stamp}, ${stamp}, ${order.staffId}, ${order.counterpartyId}, ${code}, ${quantity}, ${centsText(priceCents)}, ${order.currencyId},
              ${order.deliveryDate}, ${order.paymentDate}, ${order.locationId})
      RETURNING purchase_order_id AS id`;
    await insertTransactionAndPayment(tx, write, order, { type: 'PURCHASE', purchaseOrderId: row!.id }, paymentCents(quantity, priceCents));
  });
  write.record.inserted('purchase_order');
  return true;
}

/** An id at random within the rows that existed before the run; ids can have gaps, so the next one up. */
function somewhereIn(random: Random, range: IdRange): number {
  return random.int(range.min, range.max);
}

async function amendSalesOrder(write: Write): Promise<boolean> {
  const { random, stamp, world } = write;
  if (!world.salesOrders) return false;
  const from = somewhereIn(random, world.salesOrders);
  // An amendment changes the quantity, the price or the agreed dates; null keeps a column as it is.
  const change = random.int(0, 2);
  const units = change === 0 ? random.int(...SALE_RANGE.units) : null;
  const price = change === 1 ? centsText(random.int(...SALE_RANGE.priceCents)) : null;
  const deliveryDate = change === 2 ? daysAhead(write, 0, 7) : null;
  const paymentDate = change === 2 ? daysAhead(write, 1, 6) : null;
  const rows = await write.sql<{ id: number }[]>`
    UPDATE sales_order
    SET units_sold = coalesce(${units}::integer, units_sold),
        unit_price = coalesce(${price}::numeric, unit_price),
        agreed_delivery_date = coalesce(${deliveryDate}::text, agreed_delivery_date),
        agreed_payment_date = coalesce(${paymentDate}::text, agreed_payment_date),
        last_updated = ${stamp}
    WHERE sales_order_id = (
      SELECT sales_order_id FROM sales_order
      WHERE sales_order_id BETWEEN ${from} AND ${world.salesOrders.max} ORDER BY sales_order_id LIMIT 1)
    RETURNING sales_order_id AS id`;
  for (const row of rows) write.record.updated('sales_order', row.id);
  return rows.length > 0;
}

async function amendPurchaseOrder(write: Write): Promise<boolean> {
  const { random, stamp, world } = write;
  if (!world.purchaseOrders) return false;
  const from = somewhereIn(random, world.purchaseOrders);
  const changeQuantity = random.chance(0.5);
  const quantity = changeQuantity ? random.int(...PURCHASE_RANGE.quantity) : null;
  const price = changeQuantity ? null : centsText(random.int(...PURCHASE_RANGE.priceCents));
  const rows = await write.sql<{ id: number }[]>`
    UPDATE purchase_order
    SET item_quantity = coalesce(${quantity}::integer, item_quantity),
        item_unit_price = coalesce(${price}::numeric, item_unit_price),
        last_updated = ${stamp}
    WHERE purchase_order_id = (
      SELECT purchase_order_id FROM purchase_order
      WHERE purchase_order_id BETWEEN ${from} AND ${world.purchaseOrders.max} ORDER BY purchase_order_id LIMIT 1)
    RETURNING purchase_order_id AS id`;
  for (const row of rows) write.record.updated('purchase_order', row.id);
  return rows.length > 0;
}

async function settlePayment(write: Write): Promise<boolean> {
  const { random, stamp, world } = write;
  if (!world.payments) return false;
  const payments = world.payments;
  const paidToday = formatDate(write.at);
  const settleFrom = (from: number) => write.sql<{ id: number }[]>`
    UPDATE payment SET paid = true, payment_date = ${paidToday}, last_updated = ${stamp}
    WHERE payment_id = (
      SELECT payment_id FROM payment
      WHERE NOT paid AND payment_id BETWEEN ${from} AND ${payments.max} ORDER BY payment_id LIMIT 1)
    RETURNING payment_id AS id`;
  // The first open payment at or after a random point; from the start if there is none after it.
  let rows = await settleFrom(somewhereIn(random, payments));
  if (rows.length === 0) rows = await settleFrom(payments.min);
  for (const row of rows) write.record.updated('payment', row.id);
  return rows.length > 0;
}

/** A counterparty moves: ToteSys rewrites its legal address row and leaves the counterparty row alone. */
async function moveCounterparty(write: Write): Promise<boolean> {
  const { random, stamp, world } = write;
  const counterpartyId = random.pick(world.counterpartyIds);
  const a = addressFields(random);
  const rows = await write.sql<{ id: number }[]>`
    UPDATE address
    SET address_line_1 = ${a.address_line_1}, address_line_2 = ${a.address_line_2}, district = ${a.district}, city = ${a.city},
        postal_code = ${a.postal_code}, country = ${a.country}, phone = ${a.phone}, last_updated = ${stamp}
    WHERE address_id = (SELECT legal_address_id FROM counterparty WHERE counterparty_id = ${counterpartyId})
    RETURNING address_id AS id`;
  for (const row of rows) write.record.updated('address', row.id);
  return rows.length > 0;
}

async function renameDepartment(write: Write): Promise<boolean> {
  const { random, stamp, world } = write;
  if (world.departmentIds.length === 0) return false;
  const departmentId = random.pick(world.departmentIds);
  const renamed = await write.sql.begin(async (tx) => {
    const [current] = await tx<{ name: string }[]>`
      SELECT department_name AS name FROM department WHERE department_id = ${departmentId} FOR UPDATE`;
    if (!current) return false;
    await tx`UPDATE department SET department_name = ${newDepartmentName(current.name)}, last_updated = ${stamp} WHERE department_id = ${departmentId}`;
    return true;
  });
  if (renamed) write.record.updated('department', departmentId);
  return renamed;
}

function newDepartmentName(current: string): string {
  for (const [a, b] of DEPARTMENT_RENAMES) {
    if (current === a) return b;
    if (current === b) return a;
  }
  return `${current} Team`;
}

async function changeStaffEmail(write: Write): Promise<boolean> {
  const { random, stamp, world } = write;
  const staffId = random.pick(world.staffIds);
  const variant = String(random.int(2, 99));
  const changed = await write.sql.begin(async (tx) => {
    const [person] = await tx<{ first: string; last: string; email: string }[]>`
      SELECT first_name AS first, last_name AS last, email_address AS email FROM staff WHERE staff_id = ${staffId} FOR UPDATE`;
    if (!person) return false;
    // Whoever has the plain first.last address gets a numbered one (a namesake joined); a numbered one goes back.
    const plain = staffEmail(person.first, person.last);
    const email = person.email === plain ? staffEmail(person.first, person.last, variant) : plain;
    await tx`UPDATE staff SET email_address = ${email}, last_updated = ${stamp} WHERE staff_id = ${staffId}`;
    return true;
  });
  if (changed) write.record.updated('staff', staffId);
  return changed;
}
