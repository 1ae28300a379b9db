/**
 * The transform's models, declared once, as a dbt project's schema files declare them: what each
 * model reads, the columns it must produce (its contract) and the checks its rows must pass. The
 * SQL is in the folders beside this file: staging/ (one model per ToteSys table), intermediate/
 * and marts/ (one model per warehouse table). functions/transform/run-models.ts runs the models in
 * an order it derives from their inputs, checks each contract, then runs the row checks.
 *
 * What the models read that is not a model here, the driver provides before they run:
 * - `stg_<table>`: the staging models, built from the batch's JSONL by stage-batch.ts (their rows
 *   that break a rule held in quarantine, STAGING_MODELS below);
 * - `current_<table>`: the current state of a ToteSys table, this batch included (source-state.ts
 *   keeps it for the tables in CURRENT_STATE_TABLES, derived below);
 * - `previous_calendar_range`: the calendar's range after the previous batch (calendar-state.ts).
 */
import { TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type TotesysTableName } from '../../shared/totesys-tables';
import { WAREHOUSE_TABLES, type WarehouseColumnType, type WarehouseTableName } from '../../shared/warehouse-tables';
import { duckDbType, stagingModelName, type StagingModelName } from '../staging-models';

/** A column a model must produce, in order, with its DuckDB type. */
export interface ContractColumn {
  readonly name: string;
  readonly type: string;
}

/**
 * A row check, as dbt's generic tests: the rows of a model that fail it are named by the model's
 * key and the check's column.
 * - `unique`: no two rows share the column's value.
 * - `relationships`: the column (when not null) holds the primary key of a row of `current_<to>`:
 *   a row some batch has delivered and that is not deleted.
 * - `in_calendar`: the day is within int_calendar_range, so dim_date holds it.
 */
export type RowTest =
  | { readonly test: 'unique'; readonly column: string }
  | { readonly test: 'relationships'; readonly column: string; readonly to: TotesysTableName }
  | { readonly test: 'in_calendar'; readonly column: string };

export interface Model {
  readonly name: string;
  /** Its SQL file under models/; absent for a model built in TypeScript (given to the driver). */
  readonly sql?: string;
  /** Every relation it reads: a relation the driver provides, or another model. */
  readonly inputs: readonly string[];
  readonly contract: readonly ContractColumn[];
  /** The column that names a row when a check fails (a model with checks has one). */
  readonly key?: string;
  readonly tests: readonly RowTest[];
  /** Set for a warehouse table: written as Parquet for Load when it has rows. */
  readonly warehouseTable?: WarehouseTableName;
}

/** A staging model: one ToteSys table's rows of the batch, checked and cast. */
export interface StagingModel {
  readonly name: StagingModelName;
  readonly table: TotesysTableName;
  readonly sql: string;
  readonly key: string;
  readonly contract: readonly ContractColumn[];
  /**
   * `unique` fails the batch (a key twice in one object is a broken object, not a bad row);
   * a row failing `relationships` is held in quarantine with whatever references it, or, strict,
   * fails the batch. Each value's own rules are in the model's SQL.
   */
  readonly tests: readonly RowTest[];
}

const DUCKDB_TYPE_OF: Readonly<Record<WarehouseColumnType, string>> = {
  int: 'INTEGER',
  date: 'DATE',
  time: 'TIME',
  'numeric(10,2)': 'DECIMAL(10,2)',
  varchar: 'VARCHAR',
  boolean: 'BOOLEAN',
};

/**
 * Every ToteSys table's staging model. Each is unique on its primary key, and each foreign key of
 * functions/shared/totesys-tables.ts is a `relationships` check.
 */
export const STAGING_MODELS: readonly StagingModel[] = TOTESYS_TABLE_NAMES.map((name) => {
  const table = TOTESYS_TABLES[name];
  return {
    name: stagingModelName(name),
    table: name,
    sql: `staging/${stagingModelName(name)}.sql`,
    key: table.primaryKey,
    contract: Object.entries(table.columns).map(([column, pgType]) => ({ name: column, type: duckDbType(pgType) })),
    tests: [
      { test: 'unique', column: table.primaryKey },
      ...Object.entries(table.references ?? {}).map(([column, to]): RowTest => ({ test: 'relationships', column, to })),
    ],
  };
});

/** A staging model's `relationships` check, with the model it checks. */
export interface ReferenceCheck {
  readonly model: StagingModel;
  readonly test: Extract<RowTest, { test: 'relationships' }>;
}

/** Every `relationships` check of the staging models: what the transform's reference checks run, and the keys they look up. */
export const REFERENCE_CHECKS: readonly ReferenceCheck[] = STAGING_MODELS.flatMap((model) =>
  model.tests.flatMap((test) => (test.test === 'relationships' ? [{ model, test }] : [])),
);

/**
 * A warehouse table's model: its contract is the warehouse's (functions/shared/warehouse-tables.ts;
 * a fact's serial key is the warehouse's own), every date column of a fact is in the calendar
 * (each references dim_date), and a dimension is unique on the natural key Load upserts on.
 */
function mart(name: WarehouseTableName, inputs: readonly string[]): Model {
  const table = WAREHOUSE_TABLES[name];
  const key = table.kind === 'fact' ? table.sourceKey! : table.primaryKey;
  const tests: RowTest[] =
    table.kind === 'fact'
      ? table.columns.filter((column) => column.references === 'dim_date').map((column) => ({ test: 'in_calendar', column: column.name }))
      : [{ test: 'unique', column: key }];
  return {
    name,
    sql: `marts/${name}.sql`,
    inputs,
    contract: table.columns.map((column) => ({ name: column.name, type: DUCKDB_TYPE_OF[column.type] })),
    key,
    tests,
    warehouseTable: name,
  };
}

/** The models after staging. The driver runs them in an order derived from `inputs`; ties go in this order. */
export const MODELS: readonly Model[] = [
  mart('fact_sales_order', ['stg_sales_order']),
  mart('fact_purchase_order', ['stg_purchase_order']),
  mart('fact_payment', ['stg_payment']),
  {
    name: 'int_calendar_range',
    sql: 'intermediate/int_calendar_range.sql',
    inputs: ['previous_calendar_range', 'fact_sales_order', 'fact_purchase_order', 'fact_payment'],
    contract: [
      { name: 'first_day', type: 'DATE' },
      { name: 'last_day', type: 'DATE' },
      { name: 'widened', type: 'BOOLEAN' },
    ],
    tests: [],
  },
  mart('dim_date', ['int_calendar_range']),
  mart('dim_staff', ['stg_staff', 'stg_department', 'current_staff', 'current_department']),
  mart('dim_location', ['stg_address', 'current_address']),
  {
    // The English name of each ISO 4217 code, from the platform's internationalisation data
    // (Intl.DisplayNames): data SQL cannot reach, so this model is TypeScript (reference-data.ts).
    name: 'currency_name_lookup',
    inputs: ['stg_currency'],
    contract: [
      { name: 'currency_code', type: 'VARCHAR' },
      { name: 'currency_name', type: 'VARCHAR' },
    ],
    tests: [],
  },
  mart('dim_currency', ['stg_currency', 'currency_name_lookup']),
  mart('dim_design', ['stg_design']),
  mart('dim_counterparty', ['stg_counterparty', 'stg_address', 'current_counterparty', 'current_address']),
  mart('dim_transaction', ['stg_transaction']),
  mart('dim_payment_type', ['stg_payment_type']),
];

/**
 * The ToteSys tables whose current state the transform keeps across batches: those a model reads
 * as `current_<table>`, and those a `relationships` check looks keys up in.
 */
export const CURRENT_STATE_TABLES: readonly TotesysTableName[] = TOTESYS_TABLE_NAMES.filter(
  (table) =>
    MODELS.some((model) => model.inputs.includes(`current_${table}`)) ||
    REFERENCE_CHECKS.some((check) => check.test.to === table),
);

/** The relation names the driver provides before the models run. */
export const PROVIDED_RELATIONS: readonly string[] = [
  ...STAGING_MODELS.map((model) => model.name),
  ...CURRENT_STATE_TABLES.map((table) => `current_${table}`),
  'previous_calendar_range',
];
