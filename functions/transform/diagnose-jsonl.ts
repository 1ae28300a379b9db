import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { forEachLine, keyOfLine, type NumberedLine } from '../shared/quarantine';

/**
 * Naming a bad row's line and field, for the rare object that DuckDB cannot read whole or whose
 * rows break a rule. The rules themselves are SQL (models/macros/row_rules.sql) and this module
 * never applies them: it numbers the lines that are JSON objects so that the staging model can
 * check them with their line numbers, sets aside the lines that are not, and words what the model
 * found as the line gives it. The data path never parses a row in JavaScript.
 */

/** A line that breaks a rule: its 1-based number, the key it gives, the field, and what is wrong. */
export interface BadLine {
  readonly line: number;
  /** The row's primary key as the line gives it, when it can be read. */
  readonly key: string | null;
  /** The field that breaks a rule; null when the line is not a JSON object at all. */
  readonly field: string | null;
  readonly problem: string;
  readonly text: string;
}

/** A rule a staging model found broken (its `_problem`, from row_rules.sql). */
export interface BrokenRule {
  readonly field: string;
  /** The value as the rule saw it: read_json's text of it (the JSON number 1e3 is "1000.0"). */
  readonly value: string | null;
  readonly rule: string;
  readonly problem: string;
}

/** Why a line is not a row at all (unreadable JSON, or not an object), or undefined when it is one. */
function lineShapeProblem(text: string): string | undefined {
  let row: unknown;
  try {
    row = JSON.parse(text);
  } catch (error) {
    return `malformed JSON (${(error as Error).message})`;
  }
  return typeof row === 'object' && row !== null && !Array.isArray(row) ? undefined : 'not a JSON object';
}

/**
 * Writes to `numbered` (gzipped JSONL) every line `feed` gives that is a JSON object, with its
 * number added as `_line`, and returns the lines that are not rows. The staging model reads the
 * copy as it reads an object, and carries `_line` through. The copy is written a megabyte at a
 * time, each a gzip member of its own (a gzip file may hold several), so memory stays flat on a
 * large object.
 */
export async function writeNumberedLines(
  numbered: string,
  primaryKey: string,
  feed: (add: (line: NumberedLine) => void) => Promise<void>,
): Promise<BadLine[]> {
  const unreadable: BadLine[] = [];
  await mkdir(path.dirname(numbered), { recursive: true });
  const fd = openSync(numbered, 'w');
  let chunk: string[] = [];
  let size = 0;
  let written = false;
  const flush = () => {
    if (chunk.length === 0 && written) return;
    writeSync(fd, gzipSync(chunk.join(''), { level: 1 }));
    written = true;
    chunk = [];
    size = 0;
  };
  try {
    await feed(({ line, text }) => {
      const problem = lineShapeProblem(text);
      if (problem) {
        unreadable.push({ line, key: keyOfLine(text, primaryKey), field: null, problem, text });
        return;
      }
      const numberedLine = `${withLineNumber(text, line)}\n`;
      chunk.push(numberedLine);
      size += numberedLine.length;
      if (size >= 1 << 20) flush();
    });
    flush();
  } finally {
    closeSync(fd);
  }
  return unreadable;
}

/** `{"_line":N, …the line's own fields}`: the line is a JSON object, so its text after `{` is its fields. */
function withLineNumber(text: string, line: number): string {
  const fields = text.slice(text.indexOf('{') + 1);
  return /^\s*\}/.test(fields) ? `{"_line":${line}${fields}` : `{"_line":${line},${fields}`;
}

/**
 * The problem as a person reads it: the value, then what the rule says of it ("many" is not an
 * integer, 3.5 is not an integer). A string is shown quoted, as the line gives it; a number or a
 * boolean as the rule saw it. The line tells what read_json cannot: a required value missing
 * from one that is null, and a value that is an object or a list.
 */
export function describeBrokenRule(text: string, broken: BrokenRule): string {
  const value = (JSON.parse(text) as Record<string, unknown>)[broken.field];
  if (broken.rule === 'not_null') return value === undefined ? 'required field is missing' : broken.problem;
  if (typeof value === 'object' && value !== null) return `${JSON.stringify(value)} is not a single value`;
  return `${typeof value === 'string' ? JSON.stringify(value) : broken.value} ${broken.problem}`;
}

/** The texts of the lines of `file` whose numbers are in `wanted`, by number. */
export async function linesNumbered(file: string, wanted: ReadonlySet<number>): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  if (wanted.size === 0) return found;
  let last = 0;
  for (const line of wanted) last = Math.max(last, line);
  await forEachLine(file, ({ line, text }) => {
    if (wanted.has(line)) found.set(line, text);
    return line >= last;
  });
  return found;
}
