import { WAREHOUSE_TABLE_NAMES } from '../../functions/shared/warehouse-tables';
import type { Sql } from 'postgres';

/**
 * An independent oracle for the warehouse: what each star-schema table must hold, rebuilt from
 * ToteSys with plain PostgreSQL and hand-written rules (never the pipeline's DuckDB models), and
 * helpers that read both sides as canonical strings and compare them in JavaScript.
 */

export type ColumnKind = 'int' | 'text' | 'date' | 'time' | 'money' | 'bool';

export interface OracleColumn {
  readonly name: string;
  readonly kind: ColumnKind;
}

export interface OracleTable {
  readonly table: string;
  /** Columns that identify a row: a dimension's natural key, a fact's source key. */
  readonly key: readonly string[];
  readonly columns: readonly OracleColumn[];
  /** Plain SQL on ToteSys producing `columns` (for a fact: the current version of each source row). */
  readonly source: string;
}

/** One row, every value a canonical string (or null). */
export type CanonicalRow = Record<string, string | null>;

const c = (name: string, kind: ColumnKind): OracleColumn => ({ name, kind });
const stamps = [c('created_date', 'date'), c('created_time', 'time'), c('last_updated_date', 'date'), c('last_updated_time', 'time')];
/** created_at / last_updated split into a date and a time (milliseconds kept). */
const stampSql = `created_at::date AS created_date, created_at::time AS created_time,
       last_updated::date AS last_updated_date, last_updated::time AS last_updated_time`;

export const FACT_ORACLES: readonly OracleTable[] = [
  {
    table: 'fact_sales_order',
    key: ['sales_order_id'],
    columns: [
      c('sales_order_id', 'int'),
      ...stamps,
      c('sales_staff_id', 'int'),
      c('counterparty_id', 'int'),
      c('units_sold', 'int'),
      c('unit_price', 'money'),
      c('currency_id', 'int'),
      c('design_id', 'int'),
      c('agreed_payment_date', 'date'),
      c('agreed_delivery_date', 'date'),
      c('agreed_delivery_location_id', 'int'),
    ],
    source: `SELECT sales_order_id, ${stampSql}, staff_id AS sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id,
                    agreed_payment_date::date AS agreed_payment_date, agreed_delivery_date::date AS agreed_delivery_date,
                    agreed_delivery_location_id
             FROM sales_order`,
  },
  {
    table: 'fact_purchase_order',
    key: ['purchase_order_id'],
    columns: [
      c('purchase_order_id', 'int'),
      ...stamps,
      c('staff_id', 'int'),
      c('counterparty_id', 'int'),
      c('item_code', 'text'),
      c('item_quantity', 'int'),
      c('item_unit_price', 'money'),
      c('currency_id', 'int'),
      c('agreed_delivery_date', 'date'),
      c('agreed_payment_date', 'date'),
      c('agreed_delivery_location_id', 'int'),
    ],
    source: `SELECT purchase_order_id, ${stampSql}, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id,
                    agreed_delivery_date::date AS agreed_delivery_date, agreed_payment_date::date AS agreed_payment_date,
                    agreed_delivery_location_id
             FROM purchase_order`,
  },
  {
    table: 'fact_payment',
    key: ['payment_id'],
    columns: [
      c('payment_id', 'int'),
      ...stamps,
      c('transaction_id', 'int'),
      c('counterparty_id', 'int'),
      c('payment_amount', 'money'),
      c('currency_id', 'int'),
      c('payment_type_id', 'int'),
      c('paid', 'bool'),
      c('payment_date', 'date'),
    ],
    // Account numbers are not part of the warehouse.
    source: `SELECT payment_id, ${stampSql}, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid,
                    payment_date::date AS payment_date
             FROM payment`,
  },
];

/** The date columns of every fact: dim_date must cover all of them. */
export const FACT_DATE_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  fact_sales_order: ['created_date', 'last_updated_date', 'agreed_payment_date', 'agreed_delivery_date'],
  fact_purchase_order: ['created_date', 'last_updated_date', 'agreed_delivery_date', 'agreed_payment_date'],
  fact_payment: ['created_date', 'last_updated_date', 'payment_date'],
};

/** A fact version is its source key and its last_updated (date and time). */
export const versionKey = (fact: OracleTable): string[] => [...fact.key, 'last_updated_date', 'last_updated_time'];

export const DIMENSION_ORACLES: readonly OracleTable[] = [
  {
    table: 'dim_staff',
    key: ['staff_id'],
    columns: [c('staff_id', 'int'), c('first_name', 'text'), c('last_name', 'text'), c('department_name', 'text'), c('location', 'text'), c('email_address', 'text')],
    source: `SELECT s.staff_id, s.first_name, s.last_name, d.department_name, d.location, s.email_address
             FROM staff s JOIN department d ON d.department_id = s.department_id`,
  },
  {
    table: 'dim_location',
    key: ['location_id'],
    columns: [
      c('location_id', 'int'),
      c('address_line_1', 'text'),
      c('address_line_2', 'text'),
      c('district', 'text'),
      c('city', 'text'),
      c('postal_code', 'text'),
      c('country', 'text'),
      c('phone', 'text'),
    ],
    source: `SELECT address_id AS location_id, address_line_1, address_line_2, district, city, postal_code, country, phone FROM address`,
  },
  {
    table: 'dim_currency',
    key: ['currency_id'],
    columns: [c('currency_id', 'int'), c('currency_code', 'text'), c('currency_name', 'text')],
    // English names by hand; an unknown code yields NULL, which the warehouse's NOT NULL column can never equal.
    source: `SELECT currency_id, currency_code,
                    CASE currency_code WHEN 'GBP' THEN 'British Pound' WHEN 'USD' THEN 'US Dollar' WHEN 'EUR' THEN 'Euro' END AS currency_name
             FROM currency`,
  },
  {
    table: 'dim_design',
    key: ['design_id'],
    columns: [c('design_id', 'int'), c('design_name', 'text'), c('file_location', 'text'), c('file_name', 'text')],
    source: `SELECT design_id, design_name, file_location, file_name FROM design`,
  },
  {
    table: 'dim_counterparty',
    key: ['counterparty_id'],
    columns: [
      c('counterparty_id', 'int'),
      c('counterparty_legal_name', 'text'),
      c('counterparty_legal_address_line_1', 'text'),
      c('counterparty_legal_address_line_2', 'text'),
      c('counterparty_legal_district', 'text'),
      c('counterparty_legal_city', 'text'),
      c('counterparty_legal_postal_code', 'text'),
      c('counterparty_legal_country', 'text'),
      c('counterparty_legal_phone_number', 'text'),
    ],
    source: `SELECT cp.counterparty_id, cp.counterparty_legal_name,
                    a.address_line_1 AS counterparty_legal_address_line_1, a.address_line_2 AS counterparty_legal_address_line_2,
                    a.district AS counterparty_legal_district, a.city AS counterparty_legal_city,
                    a.postal_code AS counterparty_legal_postal_code, a.country AS counterparty_legal_country,
                    a.phone AS counterparty_legal_phone_number
             FROM counterparty cp JOIN address a ON a.address_id = cp.legal_address_id`,
  },
  {
    table: 'dim_transaction',
    key: ['transaction_id'],
    columns: [c('transaction_id', 'int'), c('transaction_type', 'text'), c('sales_order_id', 'int'), c('purchase_order_id', 'int')],
    source: `SELECT transaction_id, transaction_type::text AS transaction_type, sales_order_id, purchase_order_id FROM transaction`,
  },
  {
    table: 'dim_payment_type',
    key: ['payment_type_id'],
    columns: [c('payment_type_id', 'int'), c('payment_type_name', 'text')],
    source: `SELECT payment_type_id, payment_type_name::text AS payment_type_name FROM payment_type`,
  },
];

export const DIM_DATE_COLUMNS: readonly OracleColumn[] = [
  c('date_id', 'date'),
  c('year', 'int'),
  c('month', 'int'),
  c('day', 'int'),
  c('day_of_week', 'int'),
  c('day_name', 'text'),
  c('month_name', 'text'),
  c('quarter', 'int'),
];

/** A value, as PostgreSQL's text output gives it, in one canonical form per kind. */
export function canonical(kind: ColumnKind, value: string | null): string | null {
  if (value === null) return null;
  const fail = (): never => {
    throw new Error(`not a canonical ${kind}: ${JSON.stringify(value)}`);
  };
  switch (kind) {
    case 'text':
      return value;
    case 'int':
      return /^-?\d+$/.test(value) ? BigInt(value).toString() : fail();
    case 'money': {
      const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value) ?? fail();
      // Two decimals at least; further digits are kept only when they are not zeros (so a mismatch shows).
      const fraction = (match[3] ?? '').padEnd(2, '0').replace(/(\d{2}\d*?)0+$/, '$1');
      const whole = BigInt(match[2]!).toString();
      return `${match[1] && /[1-9]/.test(whole + fraction) ? '-' : ''}${whole}.${fraction}`;
    }
    case 'date':
      return /^\d{4}-\d{2}-\d{2}$/.test(value) ? value : fail();
    case 'time': {
      const match = /^(\d{2}:\d{2}:\d{2})(?:\.(\d+))?$/.exec(value) ?? fail();
      return `${match[1]}.${(match[2] ?? '').padEnd(3, '0').replace(/(\d{3}\d*?)0+$/, '$1')}`;
    }
    case 'bool':
      if (value === 'true' || value === 't') return 'true';
      if (value === 'false' || value === 'f') return 'false';
      return fail();
  }
}

/** Runs `from` (a query or a table) and returns `columns` of every row as canonical strings. */
export async function readCanonical(sql: Sql, from: string, columns: readonly OracleColumn[]): Promise<CanonicalRow[]> {
  const rows = await sql.unsafe<Record<string, string | null>[]>(
    `SELECT ${columns.map((col) => `q."${col.name}"::text AS "${col.name}"`).join(', ')} FROM (${from}) q`,
  );
  return rows.map((row) => Object.fromEntries(columns.map((col) => [col.name, canonical(col.kind, row[col.name] ?? null)])));
}

/** The expected rows of a table, from ToteSys. */
export const readSource = (totesys: Sql, oracle: OracleTable): Promise<CanonicalRow[]> => readCanonical(totesys, oracle.source, oracle.columns);

/** Every row of a warehouse table (for a fact: every version). */
export const readWarehouse = (warehouse: Sql, oracle: OracleTable): Promise<CanonicalRow[]> =>
  readCanonical(warehouse, `SELECT * FROM ${oracle.table}`, oracle.columns);

/** The newest version (by last_updated) of each source row in a fact table. */
export const readLatestFactVersions = (warehouse: Sql, fact: OracleTable): Promise<CanonicalRow[]> =>
  readCanonical(
    warehouse,
    `SELECT DISTINCT ON (${fact.key.map((k) => `"${k}"`).join(', ')}) * FROM ${fact.table}
     ORDER BY ${fact.key.map((k) => `"${k}"`).join(', ')}, last_updated_date DESC, last_updated_time DESC`,
    fact.columns,
  );

export const keyOf = (row: CanonicalRow, key: readonly string[]): string => JSON.stringify(key.map((k) => row[k] ?? null));

export interface RowDiff {
  /** Counts, and up to five examples of each kind of difference. */
  expectedRows: number;
  actualRows: number;
  duplicateExpectedKeys: string[];
  duplicateActualKeys: string[];
  missing: string[];
  unexpected: string[];
  different: { key: string; expected: CanonicalRow; actual: CanonicalRow }[];
}

/** Compares two row sets by key; an empty diff (see `noDifferences`) means equal, all rows and all columns. */
export function diffRows(expected: readonly CanonicalRow[], actual: readonly CanonicalRow[], key: readonly string[]): RowDiff {
  const index = (rows: readonly CanonicalRow[]) => {
    const byKey = new Map<string, CanonicalRow>();
    const duplicates: string[] = [];
    for (const row of rows) {
      const k = keyOf(row, key);
      if (byKey.has(k)) duplicates.push(k);
      byKey.set(k, row);
    }
    return { byKey, duplicates };
  };
  const e = index(expected);
  const a = index(actual);
  const missing = [...e.byKey.keys()].filter((k) => !a.byKey.has(k));
  const unexpected = [...a.byKey.keys()].filter((k) => !e.byKey.has(k));
  const different = [...e.byKey.entries()]
    .filter(([k, row]) => a.byKey.has(k) && JSON.stringify(row) !== JSON.stringify(a.byKey.get(k)))
    .map(([k, row]) => ({ key: k, expected: row, actual: a.byKey.get(k)! }));
  return {
    expectedRows: expected.length,
    actualRows: actual.length,
    duplicateExpectedKeys: e.duplicates.slice(0, 5),
    duplicateActualKeys: a.duplicates.slice(0, 5),
    missing: missing.slice(0, 5),
    unexpected: unexpected.slice(0, 5),
    different: different.slice(0, 5),
  };
}

/** What `diffRows` returns when the two sets are equal. */
export const noDifferences = (rows: number): RowDiff => ({
  expectedRows: rows,
  actualRows: rows,
  duplicateExpectedKeys: [],
  duplicateActualKeys: [],
  missing: [],
  unexpected: [],
  different: [],
});

const DAY_NAMES = ['', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTH_NAMES = ['', 'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAY_MS = 86_400_000;

/** dim_date rows for every day from `first` to `last` ('YYYY-MM-DD', inclusive), by hand. */
export function calendar(first: string, last: string): CanonicalRow[] {
  const parse = (text: string): number => {
    const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (!match) throw new Error(`not a date: ${text}`);
    return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  };
  const rows: CanonicalRow[] = [];
  for (let at = parse(first); at <= parse(last); at += DAY_MS) {
    const day = new Date(at);
    const month = day.getUTCMonth() + 1;
    const isoWeekday = ((day.getUTCDay() + 6) % 7) + 1; // getUTCDay: Sunday 0 ... Saturday 6
    rows.push({
      date_id: `${String(day.getUTCFullYear()).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day.getUTCDate()).padStart(2, '0')}`,
      year: String(day.getUTCFullYear()),
      month: String(month),
      day: String(day.getUTCDate()),
      day_of_week: String(isoWeekday),
      day_name: DAY_NAMES[isoWeekday]!,
      month_name: MONTH_NAMES[month]!,
      quarter: String(Math.floor((month - 1) / 3) + 1),
    });
  }
  return rows;
}

/**
 * The whole warehouse as text, every row of every star-schema table (surrogate keys included, so
 * a row deleted and re-added shows), and the load ledger's batches with what they recorded.
 */
export async function dumpWarehouse(warehouse: Sql): Promise<Record<string, string[]>> {
  const dump: Record<string, string[]> = {};
  for (const table of WAREHOUSE_TABLE_NAMES) {
    dump[table] = (await warehouse.unsafe<{ r: string }[]>(`SELECT t::text AS r FROM ${table} t ORDER BY 1`)).map((row) => row.r);
  }
  dump['pipeline.load_ledger'] = (
    await warehouse.unsafe<{ r: string }[]>(
      `SELECT row(batch_id, processed_manifest_key, rows, newest_change, loaded_at)::text AS r FROM pipeline.load_ledger ORDER BY batch_id`,
    )
  ).map((row) => row.r);
  return dump;
}
