import type { TotesysTableName } from '../shared/totesys-tables';
import { DIMENSION_NAMES, FACT_NAMES, WAREHOUSE_TABLES, type DimensionName, type FactName, type WarehouseColumnType, type WarehouseTableName } from '../shared/warehouse-tables';

/**
 * What each warehouse table must hold, written again from the warehouse rules (the contract's
 * "Rules", docs/trust.md) as plain PostgreSQL on ToteSys: never the pipeline's DuckDB models. Each
 * warehouse column is one expression over the ToteSys row(s) it is built from; both sides cast
 * every value to the warehouse column's type, so the two are compared as the same typed values.
 */

/** The tables compared row by row (dim_date is checked inside the warehouse: see calendarSql). */
export type ComparedTableName = Exclude<WarehouseTableName, 'dim_date'>;

/** Another ToteSys table a dimension's rows are built from: a change there changes these keys. */
export interface BuiltAlsoFrom {
  readonly sourceTable: TotesysTableName;
  /** SQL on ToteSys: column `key` of the dimension's rows built from any of the keys `$1::int[]` of `sourceTable`. */
  readonly keysSql: string;
}

export interface ExpectedTable {
  readonly table: ComparedTableName;
  /** The warehouse column that identifies a current row: a dimension's natural key, a fact's source key. */
  readonly key: string;
  /** The ToteSys table whose primary key `key` holds: its changes, key set and recorded deletions apply. */
  readonly sourceTable: TotesysTableName;
  /**
   * The ToteSys rows, as a FROM clause in which `s` is `sourceTable`. dim_currency asks for the
   * placeholders of its English names (only a query that uses them may hold them).
   */
  readonly from: (currencyNames: () => CurrencyNameParameters) => string;
  /** Every warehouse column, as an expression over `from`. */
  readonly columns: Readonly<Record<string, string>>;
  readonly builtAlsoFrom?: readonly BuiltAlsoFrom[];
}

/** dim_currency's English names, as two parallel text[] parameters of the query (placeholders like `$3`). */
export interface CurrencyNameParameters {
  readonly codes: string;
  readonly names: string;
}

const stamps = {
  created_date: 's.created_at::date',
  created_time: 's.created_at::time',
  last_updated_date: 's.last_updated::date',
  last_updated_time: 's.last_updated::time',
};

const table = (spec: Omit<ExpectedTable, 'from'> & { from: string | ExpectedTable['from'] }): ExpectedTable => {
  const { from } = spec;
  return { ...spec, from: typeof from === 'string' ? () => from : from };
};

export const EXPECTED_TABLES: Readonly<Record<ComparedTableName, ExpectedTable>> = {
  dim_staff: table({
    table: 'dim_staff',
    key: 'staff_id',
    sourceTable: 'staff',
    from: 'public.staff s JOIN public.department d ON d.department_id = s.department_id',
    columns: {
      staff_id: 's.staff_id',
      first_name: 's.first_name',
      last_name: 's.last_name',
      department_name: 'd.department_name',
      location: 'd.location',
      email_address: 's.email_address',
    },
    builtAlsoFrom: [{ sourceTable: 'department', keysSql: 'SELECT staff_id AS key FROM public.staff WHERE department_id = ANY($1::int[])' }],
  }),
  dim_location: table({
    table: 'dim_location',
    key: 'location_id',
    sourceTable: 'address',
    from: 'public.address s',
    columns: {
      location_id: 's.address_id',
      address_line_1: 's.address_line_1',
      address_line_2: 's.address_line_2',
      district: 's.district',
      city: 's.city',
      postal_code: 's.postal_code',
      country: 's.country',
      phone: 's.phone',
    },
  }),
  dim_currency: table({
    table: 'dim_currency',
    key: 'currency_id',
    sourceTable: 'currency',
    from: (currencyNames) => {
      const names = currencyNames();
      return `public.currency s LEFT JOIN unnest(${names.codes}::text[], ${names.names}::text[]) AS english(code, name) ON english.code = s.currency_code`;
    },
    columns: {
      currency_id: 's.currency_id',
      currency_code: 's.currency_code',
      // An unknown code keeps the code as its name.
      currency_name: 'coalesce(english.name, s.currency_code)',
    },
  }),
  dim_design: table({
    table: 'dim_design',
    key: 'design_id',
    sourceTable: 'design',
    from: 'public.design s',
    columns: { design_id: 's.design_id', design_name: 's.design_name', file_location: 's.file_location', file_name: 's.file_name' },
  }),
  dim_counterparty: table({
    table: 'dim_counterparty',
    key: 'counterparty_id',
    sourceTable: 'counterparty',
    from: 'public.counterparty s JOIN public.address a ON a.address_id = s.legal_address_id',
    columns: {
      counterparty_id: 's.counterparty_id',
      counterparty_legal_name: 's.counterparty_legal_name',
      counterparty_legal_address_line_1: 'a.address_line_1',
      counterparty_legal_address_line_2: 'a.address_line_2',
      counterparty_legal_district: 'a.district',
      counterparty_legal_city: 'a.city',
      counterparty_legal_postal_code: 'a.postal_code',
      counterparty_legal_country: 'a.country',
      counterparty_legal_phone_number: 'a.phone',
    },
    builtAlsoFrom: [{ sourceTable: 'address', keysSql: 'SELECT counterparty_id AS key FROM public.counterparty WHERE legal_address_id = ANY($1::int[])' }],
  }),
  dim_transaction: table({
    table: 'dim_transaction',
    key: 'transaction_id',
    sourceTable: 'transaction',
    from: 'public.transaction s',
    columns: {
      transaction_id: 's.transaction_id',
      transaction_type: 's.transaction_type::text',
      sales_order_id: 's.sales_order_id',
      purchase_order_id: 's.purchase_order_id',
    },
  }),
  dim_payment_type: table({
    table: 'dim_payment_type',
    key: 'payment_type_id',
    sourceTable: 'payment_type',
    from: 'public.payment_type s',
    columns: { payment_type_id: 's.payment_type_id', payment_type_name: 's.payment_type_name::text' },
  }),
  fact_sales_order: table({
    table: 'fact_sales_order',
    key: 'sales_order_id',
    sourceTable: 'sales_order',
    from: 'public.sales_order s',
    columns: {
      sales_order_id: 's.sales_order_id',
      ...stamps,
      sales_staff_id: 's.staff_id',
      counterparty_id: 's.counterparty_id',
      units_sold: 's.units_sold',
      unit_price: 's.unit_price',
      currency_id: 's.currency_id',
      design_id: 's.design_id',
      agreed_payment_date: 's.agreed_payment_date::date',
      agreed_delivery_date: 's.agreed_delivery_date::date',
      agreed_delivery_location_id: 's.agreed_delivery_location_id',
    },
  }),
  fact_purchase_order: table({
    table: 'fact_purchase_order',
    key: 'purchase_order_id',
    sourceTable: 'purchase_order',
    from: 'public.purchase_order s',
    columns: {
      purchase_order_id: 's.purchase_order_id',
      ...stamps,
      staff_id: 's.staff_id',
      counterparty_id: 's.counterparty_id',
      item_code: 's.item_code',
      item_quantity: 's.item_quantity',
      item_unit_price: 's.item_unit_price',
      currency_id: 's.currency_id',
      agreed_delivery_date: 's.agreed_delivery_date::date',
      agreed_payment_date: 's.agreed_payment_date::date',
      agreed_delivery_location_id: 's.agreed_delivery_location_id',
    },
  }),
  fact_payment: table({
    table: 'fact_payment',
    key: 'payment_id',
    sourceTable: 'payment',
    from: 'public.payment s',
    // The account numbers are not part of the warehouse.
    columns: {
      payment_id: 's.payment_id',
      ...stamps,
      transaction_id: 's.transaction_id',
      counterparty_id: 's.counterparty_id',
      payment_amount: 's.payment_amount',
      currency_id: 's.currency_id',
      payment_type_id: 's.payment_type_id',
      paid: 's.paid',
      payment_date: 's.payment_date::date',
    },
  }),
};

/** Compared in this order: dimensions first, as Load writes them (dim_date is checked inside the warehouse). */
export const COMPARED_TABLE_NAMES: readonly ComparedTableName[] = [
  ...DIMENSION_NAMES.filter((name): name is Exclude<DimensionName, 'dim_date'> => name !== 'dim_date'),
  ...FACT_NAMES,
];

/** The SQL type each side casts a warehouse column to: text for varchar, so both hash and print alike. */
const SQL_TYPES: Readonly<Record<WarehouseColumnType, string>> = {
  int: 'integer',
  date: 'date',
  time: 'time',
  'numeric(10,2)': 'numeric(10,2)',
  varchar: 'text',
  boolean: 'boolean',
};

/** The warehouse columns of `table`, in order, each with the SQL type both sides cast it to. */
export function typedColumns(table: WarehouseTableName): { name: string; sqlType: string }[] {
  return WAREHOUSE_TABLES[table].columns.map((column) => ({ name: column.name, sqlType: SQL_TYPES[column.type] }));
}

/**
 * Where the warehouse's current rows of a compared table are read: a dimension's table, or a
 * fact's current_* view (one row per existing source row, its latest version). A warehouse made
 * before the views existed (migration 002) gets their definition without deletions: the latest
 * version of every key.
 */
export function warehouseRelation(table: ComparedTableName, hasCurrentViews: boolean): string {
  const spec = WAREHOUSE_TABLES[table];
  if (spec.kind === 'dimension') return table;
  if (hasCurrentViews) return currentView(table as FactName);
  return `(SELECT DISTINCT ON ("${spec.sourceKey}") * FROM ${table} ORDER BY "${spec.sourceKey}", "${spec.primaryKey}" DESC)`;
}

export function currentView(fact: FactName): string {
  return `current_${WAREHOUSE_TABLES[fact].sourceTable}`;
}

const englishCurrencyNames = new Intl.DisplayNames(['en'], { type: 'currency', fallback: 'none' });

/**
 * The English name of each ISO 4217 code the platform's internationalisation data knows
 * (GBP -> British Pound); codes it does not know are left out, and keep the code as their name.
 */
export function englishCurrencyNameLookup(codes: readonly string[]): { codes: string[]; names: string[] } {
  const known = { codes: [] as string[], names: [] as string[] };
  for (const code of new Set(codes)) {
    const name = /^[A-Z]{3}$/.test(code) ? englishCurrencyNames.of(code) : undefined;
    if (name) {
      known.codes.push(code);
      known.names.push(name);
    }
  }
  return known;
}

/** The date columns of every fact: dim_date must cover every value of each, in every version. */
export function factDateColumns(fact: FactName): string[] {
  return WAREHOUSE_TABLES[fact].columns.filter((column) => column.type === 'date').map((column) => column.name);
}

/** The columns of dim_date, in order. */
export const CALENDAR_COLUMNS = WAREHOUSE_TABLES.dim_date.columns.map((column) => column.name);

/**
 * dim_date as it must be, computed inside the warehouse: every day from the earliest to the latest
 * date of any fact row (every version), ISO day of week (Monday 1 ... Sunday 7), English day and
 * month names (to_char without TM is always English), quarter 1-4. Every value as text.
 */
export function calendarSql(): string {
  const perFact = FACT_NAMES.map((fact) => {
    const columns = factDateColumns(fact).map((column) => `"${column}"`);
    return `SELECT least(${columns.map((c) => `min(${c})`).join(', ')}) AS first_day, greatest(${columns.map((c) => `max(${c})`).join(', ')}) AS last_day FROM ${fact}`;
  });
  return `WITH bounds AS (
  SELECT min(first_day) AS first_day, max(last_day) AS last_day FROM (
    ${perFact.join('\n    UNION ALL ')}
  ) per_fact
),
calendar AS (
  SELECT bounds.first_day + offset_days AS day FROM bounds, generate_series(0, bounds.last_day - bounds.first_day) AS offset_days
)
SELECT day::text AS date_id,
       extract(year FROM day)::int::text AS year,
       extract(month FROM day)::int::text AS month,
       extract(day FROM day)::int::text AS day,
       extract(isodow FROM day)::int::text AS day_of_week,
       to_char(day, 'FMDay') AS day_name,
       to_char(day, 'FMMonth') AS month_name,
       extract(quarter FROM day)::int::text AS quarter
FROM calendar`;
}

/** dim_date as the warehouse holds it, every value as text. */
export function calendarInWarehouseSql(): string {
  return `SELECT ${CALENDAR_COLUMNS.map((c) => `"${c}"::text AS "${c}"`).join(', ')} FROM dim_date`;
}
