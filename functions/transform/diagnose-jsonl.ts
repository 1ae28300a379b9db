import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { TEXT_DATE_COLUMNS, TOTESYS_ENUM_LABELS, type SourceTable } from '../shared/totesys-tables';
import { isRequired } from './source-columns';

/** The first bad line of a JSONL object: its 1-based line number, the field, and what is wrong. */
export interface BadLine {
  readonly line: number;
  readonly field: string | null;
  readonly problem: string;
}

/**
 * Finds the first line of a gzipped JSONL file that breaks the table's rules. Runs only after
 * DuckDB has rejected the file or found a rule broken, to name the line and field precisely; the
 * data path itself never parses rows in JavaScript.
 */
export async function findFirstBadLine(file: string, table: SourceTable): Promise<BadLine | undefined> {
  const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
  let number = 0;
  for await (const text of lines) {
    number += 1;
    const problem = lineProblem(text, table);
    if (problem) {
      lines.close();
      return { line: number, ...problem };
    }
  }
  return undefined;
}

export function lineProblem(text: string, table: SourceTable): { field: string | null; problem: string } | undefined {
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
    const typeProblem = valueProblem(value, pgType, column);
    if (typeProblem) return { field: column, problem: typeProblem };
  }
  return undefined;
}

function valueProblem(value: unknown, pgType: string, column: string): string | undefined {
  const shown = JSON.stringify(value);
  switch (pgType) {
    case 'integer':
      return isIntegerText(value) && Math.abs(Number(value)) <= 2_147_483_647 ? undefined : `${shown} is not an integer`;
    case 'numeric(10,2)':
      return isDecimalText(value) ? undefined : `${shown} is not a number with at most 8 digits before the point`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${shown} is not true or false`;
    case 'timestamp(3) without time zone':
      return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/.test(value) && !Number.isNaN(Date.parse(`${value}Z`))
        ? undefined
        : `${shown} is not a timestamp`;
    default: {
      if (typeof value !== 'string') return `${shown} is not text`;
      const labels = TOTESYS_ENUM_LABELS[pgType];
      if (labels && !labels.includes(value)) return `${shown} is not one of ${labels.join(', ')}`;
      if (TEXT_DATE_COLUMNS.includes(column) && !isDateText(value)) return `${shown} is not a date (YYYY-MM-DD)`;
      return undefined;
    }
  }
}

function isIntegerText(value: unknown): boolean {
  return (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^-?\d+$/.test(value));
}

function isDecimalText(value: unknown): boolean {
  const text = typeof value === 'number' ? String(value) : value;
  return typeof text === 'string' && /^-?\d{1,8}(\.\d+)?$/.test(text);
}

function isDateText(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}
