import { TEXT_DATE_COLUMNS, TOTESYS_ENUM_LABELS, type SourceTable } from '../shared/totesys-tables';
import { forEachLine, keyOfLine } from '../shared/quarantine';
import { isDayColumn, isRequired, type DateBounds } from './source-columns';

/** The first bad line of a JSONL object: its 1-based line number, the field, and what is wrong. */
export interface BadLine {
  readonly line: number;
  /** The row's primary key as the line gives it, when it can be read. */
  readonly key: string | null;
  readonly field: string | null;
  readonly problem: string;
}

/**
 * Finds the first line of a gzipped JSONL file that breaks the table's rules. Runs only after
 * DuckDB has rejected the file or found a rule broken, to name the line and field precisely; the
 * data path itself never parses rows in JavaScript.
 */
export async function findFirstBadLine(file: string, table: SourceTable, bounds?: DateBounds): Promise<BadLine | undefined> {
  let found: BadLine | undefined;
  await forEachLine(file, ({ line, text }) => {
    const problem = lineProblem(text, table, bounds);
    if (problem) found = { line, key: keyOfLine(text, table.primaryKey), ...problem };
    return found !== undefined;
  });
  return found;
}

export function lineProblem(text: string, table: SourceTable, bounds?: DateBounds): { field: string | null; problem: string } | undefined {
  let row: unknown;
  try {
    row = JSON.parse(text);
  } catch (error) {
    return { field: null, problem: `malformed JSON (${(error as Error).message})` };
  }
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return { field: null, problem: 'not a JSON object' };
  const values = row as Record<string, unknown>;
  for (const [column, pgType] of Object.entries(table.columns)) {
    const value = values[column];
    if (value === undefined || value === null) {
      if (isRequired(table, column)) return { field: column, problem: value === undefined ? 'required field is missing' : 'required field is null' };
      continue;
    }
    const typeProblem = valueProblem(value, pgType, column) ?? (bounds && isDayColumn(column, pgType) ? dayProblem(String(value), bounds) : undefined);
    if (typeProblem) return { field: column, problem: typeProblem };
  }
  return undefined;
}

/** Mirrors the day rule of source-columns.ts: the day outside the configured bounds. */
function dayProblem(text: string, bounds: DateBounds): string | undefined {
  const day = text.slice(0, 10);
  if (day < bounds.earliestDate) return `${JSON.stringify(text)} is before the earliest day accepted, ${bounds.earliestDate} (PIPELINE_EARLIEST_DATE)`;
  if (day > bounds.latestDate) return `${JSON.stringify(text)} is after the latest day accepted, ${bounds.latestDate} (PIPELINE_LATEST_DATE)`;
  return undefined;
}

/** Mirrors the SQL rules in source-columns.ts, value by value, to say which rule a line breaks. */
function valueProblem(value: unknown, pgType: string, column: string): string | undefined {
  const shown = JSON.stringify(value);
  const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
  if (text === undefined) return `${shown} is not a single value`;
  switch (pgType) {
    case 'integer':
      return /^-?\d{1,10}$/.test(text) && Math.abs(Number(text)) <= 2_147_483_647 ? undefined : `${shown} is not an integer`;
    case 'numeric(10,2)':
      return /^-?\d{1,8}(\.\d{1,2})?$/.test(text) ? undefined : `${shown} is not a number with at most 8 digits before the point and 2 after`;
    case 'boolean':
      return text === 'true' || text === 'false' ? undefined : `${shown} is not true or false`;
    case 'timestamp(3) without time zone': {
      const match = /^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}:\d{2}(\.\d{1,3})?$/.exec(text);
      return match && isDateText(match[1]!) && !Number.isNaN(Date.parse(`${text.replace(' ', 'T')}Z`)) ? undefined : `${shown} is not a timestamp`;
    }
    case 'character varying(3)':
      return text.length <= 3 ? undefined : `${shown} is longer than 3 characters`;
    default: {
      const labels = TOTESYS_ENUM_LABELS[pgType];
      if (labels && !labels.includes(text)) return `${shown} is not one of ${labels.join(', ')}`;
      if (TEXT_DATE_COLUMNS.includes(column) && !isDateText(text)) return `${shown} is not a date (YYYY-MM-DD)`;
      return undefined;
    }
  }
}

function isDateText(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}
