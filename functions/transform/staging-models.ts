import path from 'node:path';
import { TEXT_DATE_COLUMNS, TOTESYS_ENUM_LABELS, TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type SourceTable, type TotesysTableName } from '../shared/totesys-tables';

/**
 * The staging models, models/staging/stg_<table>.sql: one per ToteSys table, each reading that
 * table's JSONL, checking every value with the rules of models/macros/row_rules.sql and casting it
 * to its ToteSys type. The files are written from functions/shared/totesys-tables.ts (the one list
 * of ToteSys columns, which Extract also checks the live database against) by
 * `npm run staging-models`, and Transform runs the files; tests/unit/transform-staging-models.test.ts
 * fails while a file differs from what this module writes.
 */
export const STAGING_MODELS_DIR = path.join(__dirname, 'models', 'staging');

export type StagingModelName = `stg_${TotesysTableName}`;

export function stagingModelName(table: TotesysTableName): StagingModelName {
  return `stg_${table}`;
}

export function stagingModelFile(table: TotesysTableName): string {
  return path.join(STAGING_MODELS_DIR, `${stagingModelName(table)}.sql`);
}

/**
 * The DuckDB variable a staging model reads its JSONL file from (set by the driver before it runs
 * the model).
 */
export const STAGING_JSONL_VARIABLE = 'staging_jsonl';

/**
 * The staging model's own columns, besides the table's: `_line`, the row's line in its JSONL when
 * the driver reads a numbered copy of it (a diagnosis), and `_problem`, the first rule the row
 * breaks, null when it keeps them all.
 */
export const STAGING_LINE_COLUMN = '_line';
export const STAGING_PROBLEM_COLUMN = '_problem';

/** How a ToteSys type is cast, and the macro of row_rules.sql that checks its values first. */
interface ColumnType {
  readonly duckDbType: string;
  readonly rule?: (field: string) => string;
}

const COLUMN_TYPES: Readonly<Record<string, ColumnType>> = {
  integer: { duckDbType: 'INTEGER', rule: (field) => `integer_value('${field}', ${field})` },
  'numeric(10,2)': { duckDbType: 'DECIMAL(10,2)', rule: (field) => `decimal_10_2_value('${field}', ${field})` },
  boolean: { duckDbType: 'BOOLEAN', rule: (field) => `boolean_value('${field}', ${field})` },
  'timestamp(3) without time zone': { duckDbType: 'TIMESTAMP', rule: (field) => `timestamp_value('${field}', ${field})` },
  text: { duckDbType: 'VARCHAR' },
  'character varying(3)': { duckDbType: 'VARCHAR', rule: (field) => `max_length('${field}', ${field}, 3)` },
};

function columnType(pgType: string): ColumnType {
  const labels = TOTESYS_ENUM_LABELS[pgType];
  if (labels) return { duckDbType: 'VARCHAR', rule: (field) => `accepted_values('${field}', ${field}, [${labels.map((label) => `'${label}'`).join(', ')}])` };
  const type = COLUMN_TYPES[pgType];
  if (!type) throw new Error(`No DuckDB type for PostgreSQL type ${pgType}`);
  return type;
}

/** The DuckDB type a ToteSys column is staged as. */
export function duckDbType(pgType: string): string {
  return columnType(pgType).duckDbType;
}

function isRequired(table: SourceTable, column: string): boolean {
  return !(table.nullable ?? []).includes(column);
}

/** True for the columns that hold a day: timestamps and the text dates. */
function isDayColumn(column: string, pgType: string): boolean {
  return pgType === 'timestamp(3) without time zone' || TEXT_DATE_COLUMNS.includes(column);
}

/** The rules of one column, in the order a row's first broken rule is found. */
function columnRules(table: SourceTable, column: string, pgType: string): string[] {
  const typeRule = columnType(pgType).rule;
  return [
    ...(isRequired(table, column) ? [`not_null('${column}', ${column})`] : []),
    ...(typeRule ? [typeRule(column)] : []),
    ...(TEXT_DATE_COLUMNS.includes(column) ? [`date_text('${column}', ${column})`] : []),
    ...(isDayColumn(column, pgType) ? [`accepted_day('${column}', ${column})`] : []),
  ];
}

/** The text of models/staging/stg_<table>.sql. */
export function stagingModelSql(table: SourceTable): string {
  const columns = Object.entries(table.columns);
  const casts = columns.map(([column, pgType]) => ({ column, cast: duckDbType(pgType) === 'VARCHAR' ? column : `try_cast(${column} as ${duckDbType(pgType)})` }));
  const width = Math.max(...casts.map(({ cast }) => cast.length)) + 4;
  const rules = columns.flatMap(([column, pgType]) => columnRules(table, column, pgType));
  return [
    `-- ${stagingModelName(table.name)}: the batch's ${table.name} rows, one per line of its JSONL, checked, then cast to`,
    `-- their ToteSys types. Written by \`npm run staging-models\` from functions/shared/totesys-tables.ts:`,
    `-- change that, then run it (a test fails while this file differs).`,
    `--`,
    `-- Every value is read as text and checked by its type's rule (macros/row_rules.sql) before it is`,
    `-- cast. _problem is the row's first broken rule, in column order; the driver stages the rows`,
    `-- without one and holds the others in quarantine (or, strict, fails the batch). try_cast only`,
    `-- ever casts a checked value in a staged row. _line is the row's line when the driver reads a`,
    `-- numbered copy of the JSONL to name a bad row's line; null otherwise.`,
    `with`,
    ``,
    `source_rows as (`,
    `    select * from read_json(`,
    `        getvariable('${STAGING_JSONL_VARIABLE}'),`,
    `        format = 'newline_delimited',`,
    `        compression = 'gzip',`,
    `        columns = {`,
    `            ${STAGING_LINE_COLUMN}: 'BIGINT',`,
    ...columns.map(([column], i) => `            ${column}: 'VARCHAR'${i < columns.length - 1 ? ',' : ''}`),
    `        }`,
    `    )`,
    `),`,
    ``,
    `checked_rows as (`,
    `    select`,
    `        *,`,
    `        coalesce(`,
    ...rules.map((rule, i) => `            ${rule}${i < rules.length - 1 ? ',' : ''}`),
    `        ) as ${STAGING_PROBLEM_COLUMN}`,
    `    from source_rows`,
    `),`,
    ``,
    `final as (`,
    `    select`,
    `        ${STAGING_LINE_COLUMN},`,
    `        ${STAGING_PROBLEM_COLUMN},`,
    ...casts.map(({ column, cast }, i) => `        ${cast === column ? column : `${cast.padEnd(width)}as ${column}`}${i < casts.length - 1 ? ',' : ''}`),
    `    from checked_rows`,
    `)`,
    ``,
    `select * from final`,
    ``,
  ].join('\n');
}

/** Every staging model's file and text, as `npm run staging-models` writes them. */
export function stagingModelFiles(): { table: TotesysTableName; file: string; sql: string }[] {
  return TOTESYS_TABLE_NAMES.map((table) => ({ table, file: stagingModelFile(table), sql: stagingModelSql(TOTESYS_TABLES[table]) }));
}
