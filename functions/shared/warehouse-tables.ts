import type { TotesysTableName } from './totesys-tables';

/**
 * The warehouse contract (its Tables section, ../shared/docs/warehouse.md, outside this repository)
 * as code: the one list of star-schema tables, with names, columns in order, PostgreSQL types,
 * nullability and keys. Transform checks every model's output against it (its Parquet files carry
 * these columns, less a fact's serial surrogate key, which the warehouse assigns); Load and Verify
 * build their statements from it. The tables themselves are created by the migrations
 * (functions/load/migrations/), not from this list; tests/integration/load.test.ts checks that the
 * migrated tables match it.
 */
export type WarehouseColumnType = 'int' | 'date' | 'time' | 'numeric(10,2)' | 'varchar' | 'boolean';

export interface WarehouseColumn {
  readonly name: string;
  readonly type: WarehouseColumnType;
  readonly nullable?: true;
  /** The dimension this column references (a foreign key in the warehouse). */
  readonly references?: DimensionName;
}

export interface WarehouseTable {
  readonly name: WarehouseTableName;
  readonly kind: 'fact' | 'dimension';
  /** Facts: the serial surrogate key. Dimensions: the natural key, upserted on. */
  readonly primaryKey: string;
  /** Facts: the ToteSys table each version is a row of, and that row's key. */
  readonly sourceTable?: TotesysTableName;
  readonly sourceKey?: string;
  /** The columns Transform writes, in order (a fact's surrogate key is not among them). */
  readonly columns: readonly WarehouseColumn[];
}

export const DIMENSION_NAMES = [
  'dim_date',
  'dim_staff',
  'dim_location',
  'dim_currency',
  'dim_design',
  'dim_counterparty',
  'dim_transaction',
  'dim_payment_type',
] as const;
export type DimensionName = (typeof DIMENSION_NAMES)[number];

export const FACT_NAMES = ['fact_sales_order', 'fact_purchase_order', 'fact_payment'] as const;
export type FactName = (typeof FACT_NAMES)[number];

export type WarehouseTableName = DimensionName | FactName;

const int = (name: string, references?: DimensionName): WarehouseColumn => ({ name, type: 'int', ...(references ? { references } : {}) });
const date = (name: string): WarehouseColumn => ({ name, type: 'date', references: 'dim_date' });
const time = (name: string): WarehouseColumn => ({ name, type: 'time' });
const money = (name: string): WarehouseColumn => ({ name, type: 'numeric(10,2)' });
const text = (name: string, nullable?: true): WarehouseColumn => ({ name, type: 'varchar', ...(nullable ? { nullable } : {}) });

const versionStamps = [date('created_date'), time('created_time'), date('last_updated_date'), time('last_updated_time')];

export const WAREHOUSE_TABLES: Readonly<Record<WarehouseTableName, WarehouseTable>> = {
  dim_date: {
    name: 'dim_date',
    kind: 'dimension',
    primaryKey: 'date_id',
    columns: [
      { name: 'date_id', type: 'date' },
      int('year'),
      int('month'),
      int('day'),
      int('day_of_week'),
      text('day_name'),
      text('month_name'),
      int('quarter'),
    ],
  },
  dim_staff: {
    name: 'dim_staff',
    kind: 'dimension',
    primaryKey: 'staff_id',
    columns: [int('staff_id'), text('first_name'), text('last_name'), text('department_name'), text('location', true), text('email_address')],
  },
  dim_location: {
    name: 'dim_location',
    kind: 'dimension',
    primaryKey: 'location_id',
    columns: [
      int('location_id'),
      text('address_line_1'),
      text('address_line_2', true),
      text('district', true),
      text('city'),
      text('postal_code'),
      text('country'),
      text('phone'),
    ],
  },
  dim_currency: {
    name: 'dim_currency',
    kind: 'dimension',
    primaryKey: 'currency_id',
    columns: [int('currency_id'), text('currency_code'), text('currency_name')],
  },
  dim_design: {
    name: 'dim_design',
    kind: 'dimension',
    primaryKey: 'design_id',
    columns: [int('design_id'), text('design_name'), text('file_location'), text('file_name')],
  },
  dim_counterparty: {
    name: 'dim_counterparty',
    kind: 'dimension',
    primaryKey: 'counterparty_id',
    columns: [
      int('counterparty_id'),
      text('counterparty_legal_name'),
      text('counterparty_legal_address_line_1'),
      text('counterparty_legal_address_line_2', true),
      text('counterparty_legal_district', true),
      text('counterparty_legal_city'),
      text('counterparty_legal_postal_code'),
      text('counterparty_legal_country'),
      text('counterparty_legal_phone_number'),
    ],
  },
  dim_transaction: {
    name: 'dim_transaction',
    kind: 'dimension',
    primaryKey: 'transaction_id',
    columns: [
      int('transaction_id'),
      text('transaction_type'),
      { name: 'sales_order_id', type: 'int', nullable: true },
      { name: 'purchase_order_id', type: 'int', nullable: true },
    ],
  },
  dim_payment_type: {
    name: 'dim_payment_type',
    kind: 'dimension',
    primaryKey: 'payment_type_id',
    columns: [int('payment_type_id'), text('payment_type_name')],
  },
  fact_sales_order: {
    name: 'fact_sales_order',
    kind: 'fact',
    primaryKey: 'sales_record_id',
    sourceTable: 'sales_order',
    sourceKey: 'sales_order_id',
    columns: [
      int('sales_order_id'),
      ...versionStamps,
      int('sales_staff_id', 'dim_staff'),
      int('counterparty_id', 'dim_counterparty'),
      int('units_sold'),
      money('unit_price'),
      int('currency_id', 'dim_currency'),
      int('design_id', 'dim_design'),
      date('agreed_payment_date'),
      date('agreed_delivery_date'),
      int('agreed_delivery_location_id', 'dim_location'),
    ],
  },
  fact_purchase_order: {
    name: 'fact_purchase_order',
    kind: 'fact',
    primaryKey: 'purchase_record_id',
    sourceTable: 'purchase_order',
    sourceKey: 'purchase_order_id',
    columns: [
      int('purchase_order_id'),
      ...versionStamps,
      int('staff_id', 'dim_staff'),
      int('counterparty_id', 'dim_counterparty'),
      text('item_code'),
      int('item_quantity'),
      money('item_unit_price'),
      int('currency_id', 'dim_currency'),
      date('agreed_delivery_date'),
      date('agreed_payment_date'),
      int('agreed_delivery_location_id', 'dim_location'),
    ],
  },
  fact_payment: {
    name: 'fact_payment',
    kind: 'fact',
    primaryKey: 'payment_record_id',
    sourceTable: 'payment',
    sourceKey: 'payment_id',
    columns: [
      int('payment_id'),
      ...versionStamps,
      int('transaction_id', 'dim_transaction'),
      int('counterparty_id', 'dim_counterparty'),
      money('payment_amount'),
      int('currency_id', 'dim_currency'),
      int('payment_type_id', 'dim_payment_type'),
      { name: 'paid', type: 'boolean' },
      date('payment_date'),
    ],
  },
};

/** Dimensions first: a batch's facts reference the dimensions of the same batch. */
export const WAREHOUSE_TABLE_NAMES: readonly WarehouseTableName[] = [...DIMENSION_NAMES, ...FACT_NAMES];
