import { TEXT_DATE_COLUMNS, TOTESYS_ENUM_LABELS, type SourceTable } from '../shared/totesys-tables';

/**
 * How Transform reads a ToteSys column from JSONL: the DuckDB type for each PostgreSQL type, and
 * the checks a value must pass beyond its type.
 */
const DUCKDB_TYPES: Readonly<Record<string, string>> = {
  integer: 'INTEGER',
  text: 'VARCHAR',
  'character varying(3)': 'VARCHAR',
  'timestamp(3) without time zone': 'TIMESTAMP',
  'numeric(10,2)': 'DECIMAL(10,2)',
  boolean: 'BOOLEAN',
};

export function duckDbType(pgType: string): string {
  const type = DUCKDB_TYPES[pgType] ?? (pgType in TOTESYS_ENUM_LABELS ? 'VARCHAR' : undefined);
  if (!type) throw new Error(`No DuckDB type for PostgreSQL type ${pgType}`);
  return type;
}

/** The `columns` argument of read_json: every source column with its type, so nothing is guessed. */
export function readJsonColumns(table: SourceTable): string {
  const entries = Object.entries(table.columns).map(([column, pgType]) => `"${column}": '${duckDbType(pgType)}'`);
  return `{${entries.join(', ')}}`;
}

export function isRequired(table: SourceTable, column: string): boolean {
  return !(table.nullable ?? []).includes(column);
}

/**
 * One SQL condition per rule a staged row can break beyond its type (a required value missing, a
 * text date that is not a date, an enum label ToteSys does not have), keyed by column.
 */
export function rowRules(table: SourceTable): { column: string; broken: string }[] {
  const rules: { column: string; broken: string }[] = [];
  for (const [column, pgType] of Object.entries(table.columns)) {
    if (isRequired(table, column)) rules.push({ column, broken: `"${column}" IS NULL` });
    if (TEXT_DATE_COLUMNS.includes(column)) {
      rules.push({ column, broken: `("${column}" IS NOT NULL AND try_strptime("${column}", '%Y-%m-%d') IS NULL)` });
    }
    const labels = TOTESYS_ENUM_LABELS[pgType];
    if (labels) rules.push({ column, broken: `("${column}" IS NOT NULL AND "${column}" NOT IN (${labels.map((l) => `'${l}'`).join(', ')}))` });
  }
  return rules;
}
