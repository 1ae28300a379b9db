import { TEXT_DATE_COLUMNS, TOTESYS_ENUM_LABELS, type SourceTable } from '../shared/totesys-tables';

/**
 * How Transform reads a ToteSys column from JSONL. Every value is first read as text, checked
 * against a strict pattern for its type, and only then cast: DuckDB's own casts are lenient
 * (a boolean from "yes" or 1, an integer rounded from 3.5, a timestamp with its offset dropped),
 * which would let a wrong value in silently.
 */
interface ColumnKind {
  readonly duckDbType: string;
  /** SQL: true when `value` (the column's raw text, not null) is not a valid value of the type. */
  invalid(value: string): string;
}

const INTEGER = `'^-?[0-9]{1,10}$'`;
const DECIMAL_10_2 = `'^-?[0-9]{1,8}([.][0-9]{1,2})?$'`;
const TIMESTAMP_MS = `'^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,3})?$'`;
const DATE_TEXT = `'^[0-9]{4}-[0-9]{2}-[0-9]{2}$'`;

const KINDS: Readonly<Record<string, ColumnKind>> = {
  integer: { duckDbType: 'INTEGER', invalid: (v) => `(NOT regexp_full_match(${v}, ${INTEGER}) OR try_cast(${v} AS INTEGER) IS NULL)` },
  'numeric(10,2)': { duckDbType: 'DECIMAL(10,2)', invalid: (v) => `NOT regexp_full_match(${v}, ${DECIMAL_10_2})` },
  boolean: { duckDbType: 'BOOLEAN', invalid: (v) => `${v} NOT IN ('true', 'false')` },
  'timestamp(3) without time zone': {
    duckDbType: 'TIMESTAMP',
    invalid: (v) => `(NOT regexp_full_match(${v}, ${TIMESTAMP_MS}) OR try_cast(${v} AS TIMESTAMP) IS NULL)`,
  },
  text: { duckDbType: 'VARCHAR', invalid: () => 'false' },
  'character varying(3)': { duckDbType: 'VARCHAR', invalid: (v) => `length(${v}) > 3` },
};

function kindOf(pgType: string): ColumnKind {
  const labels = TOTESYS_ENUM_LABELS[pgType];
  if (labels) return { duckDbType: 'VARCHAR', invalid: (v) => `${v} NOT IN (${labels.map((label) => `'${label}'`).join(', ')})` };
  const kind = KINDS[pgType];
  if (!kind) throw new Error(`No DuckDB type for PostgreSQL type ${pgType}`);
  return kind;
}

export function duckDbType(pgType: string): string {
  return kindOf(pgType).duckDbType;
}

/** The `columns` argument of read_json that reads every source column as text. */
export function rawJsonColumns(table: SourceTable): string {
  return `{${Object.keys(table.columns)
    .map((column) => `"${column}": 'VARCHAR'`)
    .join(', ')}}`;
}

/** The select list that casts a raw (all-text) row to the column types. */
export function typedColumns(table: SourceTable): string {
  return Object.entries(table.columns)
    .map(([column, pgType]) => `CAST("${column}" AS ${duckDbType(pgType)}) AS "${column}"`)
    .join(', ');
}

export function isRequired(table: SourceTable, column: string): boolean {
  return !(table.nullable ?? []).includes(column);
}

/** The days a date or timestamp may fall on: outside them a value is held, not let into dim_date. */
export interface DateBounds {
  readonly earliestDate: string;
  readonly latestDate: string;
}

/** True for the columns that hold a day: timestamps and the text dates. */
export function isDayColumn(column: string, pgType: string): boolean {
  return pgType === 'timestamp(3) without time zone' || TEXT_DATE_COLUMNS.includes(column);
}

/** A bound as a SQL literal; checked to be a plain day first, so nothing else reaches the SQL. */
function dayLiteral(day: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`Not a day (YYYY-MM-DD): ${day}`);
  return `'${day}'`;
}

/**
 * One SQL condition per rule a raw row can break, keyed by column: missing, wrong type, not a
 * date, a day outside `bounds`. The day rule compares the value's first ten characters as text,
 * which orders like days once the type rule has passed.
 */
export function rowRules(table: SourceTable, bounds?: DateBounds): { column: string; broken: string }[] {
  const rules: { column: string; broken: string }[] = [];
  for (const [column, pgType] of Object.entries(table.columns)) {
    const value = `"${column}"`;
    if (isRequired(table, column)) rules.push({ column, broken: `${value} IS NULL` });
    rules.push({ column, broken: `(${value} IS NOT NULL AND ${kindOf(pgType).invalid(value)})` });
    if (TEXT_DATE_COLUMNS.includes(column)) {
      rules.push({ column, broken: `(${value} IS NOT NULL AND (NOT regexp_full_match(${value}, ${DATE_TEXT}) OR try_cast(${value} AS DATE) IS NULL))` });
    }
    if (bounds && isDayColumn(column, pgType)) {
      rules.push({ column, broken: `(${value} IS NOT NULL AND (left(${value}, 10) < ${dayLiteral(bounds.earliestDate)} OR left(${value}, 10) > ${dayLiteral(bounds.latestDate)}))` });
    }
  }
  return rules;
}
