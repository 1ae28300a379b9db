import type { DuckDbSession } from '../shared/duckdb-session';
import { TOTESYS_TABLES } from '../shared/totesys-tables';
import type { RowTest } from './models/models';

/** A check of models/models.ts on the rows of one relation, named by its `key` column. */
export interface RowCheck {
  readonly relation: string;
  readonly key: string;
  readonly test: RowTest;
}

/** A row that fails a check: its key as text, the field and why. */
export interface FailingRow {
  readonly check: RowCheck;
  readonly key: string | null;
  readonly field: string;
  readonly reason: string;
}

/**
 * The rows that fail `checks` (dbt-style generic checks), all in one query: in the checks' order,
 * then by key; at most `limit` when given.
 */
export async function failingRows(session: DuckDbSession, checks: readonly RowCheck[], limit?: number): Promise<FailingRow[]> {
  if (checks.length === 0) return [];
  const selects = checks.map((check, i) => `SELECT ${i} AS check_index, * FROM (${failingRowsSql(check)})`);
  const rows = await session.rows<{ check_index: number; key: string | null; value: string | null; copies: bigint | null }>(
    `${selects.join(' UNION ALL ')} ORDER BY check_index, key${limit ? ` LIMIT ${limit}` : ''}`,
  );
  return rows.map((row) => {
    const check = checks[row.check_index]!;
    return { check, key: row.key, field: check.test.column, reason: reasonOf(check.test, row.value, row.copies) };
  });
}

/** A check's failing rows: `key`, `value` (the field's, as text) and, for `unique`, its `copies`. */
function failingRowsSql({ relation, key, test }: RowCheck): string {
  const column = `r."${test.column}"`;
  switch (test.test) {
    case 'unique':
      return `SELECT CAST(${column} AS VARCHAR) AS key, CAST(${column} AS VARCHAR) AS value, count(*) AS copies FROM ${relation} r
        GROUP BY ${column} HAVING count(*) > 1`;
    case 'relationships':
      return `SELECT CAST(r."${key}" AS VARCHAR) AS key, CAST(${column} AS VARCHAR) AS value, NULL::BIGINT AS copies FROM ${relation} r
        WHERE ${column} IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM current_keys_${test.to} t WHERE t."${TOTESYS_TABLES[test.to].primaryKey}" = ${column})`;
    case 'in_calendar':
      return `SELECT CAST(r."${key}" AS VARCHAR) AS key, CAST(${column} AS VARCHAR) AS value, NULL::BIGINT AS copies FROM ${relation} r, int_calendar_range calendar
        WHERE ${column} IS NOT NULL AND (calendar.first_day IS NULL OR ${column} NOT BETWEEN calendar.first_day AND calendar.last_day)`;
  }
}

function reasonOf(test: RowTest, value: string | null, copies: bigint | null): string {
  switch (test.test) {
    case 'unique':
      return `${test.column}=${value} is on ${copies} rows`;
    case 'relationships':
      return `references ${test.column}=${value}, which no batch has delivered to ${test.to}`;
    case 'in_calendar':
      return `${test.column}=${value} is not in int_calendar_range, so dim_date would not hold it`;
  }
}
