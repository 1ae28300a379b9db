import { Readable } from 'node:stream';
import type { ISql } from 'postgres';
import { copyIn } from '../../functions/shared/database';

/**
 * Bulk loading through `COPY table (columns) FROM STDIN` in PostgreSQL's text format: one line
 * per row, tab between columns, \N for null.
 */

/** A text-format field: backslash, tab, newline and carriage return would otherwise end or split it. */
export function copyText(value: string | null): string {
  if (value === null) return '\\N';
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, escapeChar) : value;
}

function escapeChar(char: string): string {
  switch (char) {
    case '\\':
      return '\\\\';
    case '\t':
      return '\\t';
    case '\n':
      return '\\n';
    default:
      return '\\r';
  }
}

/** Rows joined into one write: large enough to keep per-write overhead small, small enough to stream. */
const ROWS_PER_CHUNK = 4096;

export interface CopyOptions {
  /** Called after each chunk with the rows sent so far. */
  onRows?: (rows: number) => void;
}

/**
 * Streams `lines` (one text-format row each, without the newline) into `table`. Lines are pulled
 * only as fast as the connection takes them, so a generator never has a whole table in memory.
 * Returns the number of rows sent.
 */
export async function copyInto(
  sql: ISql,
  table: string,
  columns: readonly string[],
  lines: Iterable<string>,
  options: CopyOptions = {},
): Promise<number> {
  let rows = 0;
  function* chunks(): Generator<string> {
    let chunk = '';
    let inChunk = 0;
    for (const line of lines) {
      chunk += line + '\n';
      if (++inChunk === ROWS_PER_CHUNK) {
        rows += inChunk;
        yield chunk;
        options.onRows?.(rows);
        chunk = '';
        inChunk = 0;
      }
    }
    if (inChunk > 0) {
      rows += inChunk;
      yield chunk;
      options.onRows?.(rows);
    }
  }

  // Table and column names come from TOTESYS_TABLES, never from input.
  const query = `COPY "${table}" (${columns.map((column) => `"${column}"`).join(', ')}) FROM STDIN`;
  await copyIn(sql, query, Readable.from(chunks()));
  return rows;
}
