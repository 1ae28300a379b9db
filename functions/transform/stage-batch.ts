import type { S3Client } from '@aws-sdk/client-s3';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { BadInputError } from '../shared/errors';
import type { IngestionManifest } from '../shared/ingestion-manifest';
import { TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type SourceTable, type TotesysTableName } from '../shared/totesys-tables';
import { findFirstBadLine, lineProblem } from './diagnose-jsonl';
import type { DuckDbSession } from '../shared/duckdb-session';
import { downloadObject } from '../shared/s3-files';
import { forEachLine, keyOfLine, type ClosedBecause, type HeldRow, type RowPolicy } from '../shared/quarantine';
import { duckDbType, rawJsonColumns, rowRules, typedColumns } from './source-columns';

/** What staging a batch set aside, retried and closed; the references check comes after it. */
export interface StagedBatch {
  readonly rows: Record<TotesysTableName, number>;
  /** The batch's own rows that failed a check. */
  readonly added: HeldRow[];
  /** Held rows that failed their checks again (with the latest reason). */
  readonly stillHeld: HeldRow[];
  /** Held rows that passed their row checks and are staged again; they are released unless a reference still dangles. */
  readonly retried: HeldRow[];
  readonly closed: (HeldRow & { because: ClosedBecause })[];
  /** Each table's downloaded object, to find a line by key later. */
  readonly files: Partial<Record<TotesysTableName, { file: string; object: string }>>;
}

/**
 * Loads every table of an ingestion batch into DuckDB as `batch_<table>`, typed as ToteSys types
 * it (a table without changes becomes an empty table). Needs the batch's deletions staged first
 * (`deleted_<table>`).
 *
 * Strict: the first bad value rejects the batch, naming the table, the object, the line and the
 * field. Otherwise each bad row is set aside with the same facts and the rest is staged; the rows
 * held by earlier batches are retried here too: one whose key this batch changes or deletes is
 * closed (the new version stands for it), any other is checked again and staged when it passes.
 */
export async function stageIngestedBatch(
  session: DuckDbSession,
  s3: S3Client,
  bucket: string,
  manifest: IngestionManifest,
  policy: RowPolicy,
  held: readonly HeldRow[],
): Promise<StagedBatch> {
  const staged: StagedBatch = { rows: {} as Record<TotesysTableName, number>, added: [], stillHeld: [], retried: [], closed: [], files: {} };
  for (const name of TOTESYS_TABLE_NAMES) {
    const table = TOTESYS_TABLES[name];
    const ingested = manifest.tables[name];
    const heldHere = held.filter((row) => row.table === name);
    if (!ingested && heldHere.length === 0) {
      const columns = Object.entries(table.columns).map(([column, pgType]) => `"${column}" ${duckDbType(pgType)}`);
      await session.run(`CREATE TABLE batch_${name} (${columns.join(', ')})`);
      staged.rows[name] = 0;
      continue;
    }
    const badKeys = new Set<string>();
    if (ingested) {
      const file = path.join(session.dir, 'ingested', `${name}.jsonl.gz`);
      const object = `s3://${bucket}/${ingested.key}`;
      await downloadObject(s3, bucket, ingested.key, file);
      staged.files[name] = { file, object };
      const bad = await stageRawRows(session, { file, object, table, policy, rows: ingested.rows, batchId: manifest.batchId });
      for (const row of bad) {
        staged.added.push(row);
        if (row.key !== null) badKeys.add(row.key);
      }
    } else {
      await session.run(`CREATE TABLE raw_${name} (${Object.keys(table.columns).map((column) => `"${column}" VARCHAR`).join(', ')})`);
    }
    await retryHeldRows(session, table, heldHere, badKeys, manifest.batchId, policy, staged);
    await session.run(`CREATE TABLE batch_${name} AS SELECT ${typedColumns(table)} FROM raw_${name}`);
    await session.run(`DROP TABLE raw_${name}`);
    const [counts] = await session.rows<{ total: bigint; keys: bigint }>(
      `SELECT count(*) AS total, count(DISTINCT "${table.primaryKey}") AS keys FROM batch_${name}`,
    );
    if (counts!.keys !== counts!.total) {
      throw new BadInputError(`Bad input in table ${name}, object ${staged.files[name]?.object ?? '(held rows)'}: ${table.primaryKey} is not unique within the batch`);
    }
    staged.rows[name] = Number(counts!.total);
  }
  return staged;
}

interface RawObject {
  readonly file: string;
  readonly object: string;
  readonly table: SourceTable;
  readonly policy: RowPolicy;
  readonly rows: number;
  readonly batchId: string;
}

/**
 * `raw_<table>`: the object's rows, every column as text, less the rows that break a rule (they
 * are returned, to be held). A whole-object problem (the manifest's row count) still fails.
 */
async function stageRawRows(session: DuckDbSession, raw: RawObject): Promise<HeldRow[]> {
  const { file, object, table, policy } = raw;
  const name = table.name;
  const where = `table ${name}, object ${object}`;
  let bad: HeldRow[] | undefined;
  try {
    await session.run(`CREATE TABLE raw_${name} AS SELECT * FROM read_json($1, format = 'newline_delimited', compression = 'gzip', columns = ${rawJsonColumns(table)})`, [file]);
  } catch (error) {
    if (policy.strict) throw await badInput(file, table, where, (error as Error).message, policy);
    // A line DuckDB cannot read at all: find every bad line, and read the object without them.
    bad = await findBadLines(raw);
    const unreadable = new Set(bad.filter((row) => row.field === null).map((row) => row.line));
    if (unreadable.size === 0) throw await badInput(file, table, where, (error as Error).message, policy);
    const readable = path.join(path.dirname(file), `${name}.readable.jsonl.gz`);
    const kept: string[] = [];
    await forEachLine(file, ({ line, text }) => {
      if (!unreadable.has(line)) kept.push(text);
    });
    await writeLines(readable, kept);
    await session.run(`CREATE TABLE raw_${name} AS SELECT * FROM read_json($1, format = 'newline_delimited', compression = 'gzip', columns = ${rawJsonColumns(table)})`, [readable]);
  }
  const [{ total }] = (await session.rows<{ total: bigint }>(`SELECT count(*) AS total FROM raw_${name}`)) as [{ total: bigint }];
  const unreadableLines = bad?.filter((row) => row.field === null).length ?? 0;
  if (Number(total) + unreadableLines !== raw.rows) {
    throw new BadInputError(`Bad input in ${where}: ${Number(total) + unreadableLines} rows, but the manifest says ${raw.rows}`);
  }
  const broken = await brokenRule(session, table, policy);
  if (broken === undefined) return bad ?? [];
  if (policy.strict) throw await badInput(file, table, where, `field ${broken} has a value that is missing or not of its type`, policy);
  bad ??= await findBadLines(raw);
  const keys = bad.filter((row) => row.field !== null).map((row) => row.key);
  await deleteKeys(session, `raw_${name}`, table.primaryKey, keys);
  const left = await brokenRule(session, table, policy);
  if (left !== undefined) {
    // The SQL rules and their mirror in diagnose-jsonl.ts disagree: a bug to fix, not a row to hold.
    throw new BadInputError(`Bad input in ${where}: field ${left} breaks a rule that no line was found to break`);
  }
  return bad;
}

/** The column of the first rule some row of `raw_<table>` breaks, or undefined. */
async function brokenRule(session: DuckDbSession, table: SourceTable, policy: RowPolicy): Promise<string | undefined> {
  const rules = rowRules(table, policy);
  const [broken] = await session.rows<Record<string, bigint>>(
    `SELECT ${rules.map((rule, i) => `count(*) FILTER (WHERE ${rule.broken}) AS rule_${i}`).join(', ')} FROM raw_${table.name}`,
  );
  return rules.find((_, i) => Number(broken![`rule_${i}`]) > 0)?.column;
}

/** Every line of the object that breaks a rule, as rows to hold. */
async function findBadLines(raw: RawObject): Promise<HeldRow[]> {
  const bad: HeldRow[] = [];
  await forEachLine(raw.file, ({ line, text }) => {
    const problem = lineProblem(text, raw.table, raw.policy);
    if (!problem) return;
    bad.push({
      table: raw.table.name,
      key: keyOfLine(text, raw.table.primaryKey),
      field: problem.field,
      reason: problem.problem,
      batchId: raw.batchId,
      object: raw.object,
      line,
      text,
      heldSince: raw.batchId,
      lastTried: raw.batchId,
    });
  });
  return bad;
}

/**
 * The rows earlier batches held for this table: closed when this batch brings their key again
 * (changed, or badly again) or deletes it; otherwise checked again, and staged when they pass.
 */
async function retryHeldRows(
  session: DuckDbSession,
  table: SourceTable,
  held: readonly HeldRow[],
  badKeys: ReadonlySet<string>,
  batchId: string,
  policy: RowPolicy,
  staged: StagedBatch,
): Promise<void> {
  if (held.length === 0) return;
  const keys = held.flatMap((row) => (row.key === null ? [] : [row.key]));
  const changed = await keysPresent(session, `raw_${table.name}`, table.primaryKey, keys);
  const deleted = await keysPresent(session, `deleted_${table.name}`, table.primaryKey, keys);
  const retry: HeldRow[] = [];
  for (const row of held) {
    if (row.key !== null && (changed.has(row.key) || badKeys.has(row.key))) staged.closed.push({ ...row, because: 'superseded' });
    else if (row.key !== null && deleted.has(row.key)) staged.closed.push({ ...row, because: 'deleted' });
    else {
      const problem = lineProblem(row.text, table, policy);
      if (problem || row.key === null) staged.stillHeld.push({ ...row, ...(problem ? { field: problem.field, reason: problem.problem } : {}), lastTried: batchId });
      else retry.push({ ...row, lastTried: batchId });
    }
  }
  if (retry.length === 0) return;
  const file = path.join(session.dir, 'ingested', `${table.name}.held.jsonl.gz`);
  await writeLines(file, retry.map((row) => row.text));
  await session.run(`INSERT INTO raw_${table.name} SELECT * FROM read_json($1, format = 'newline_delimited', compression = 'gzip', columns = ${rawJsonColumns(table)})`, [file]);
  staged.retried.push(...retry);
}

/** Which of `keys` the table's key column holds (compared as text, as lines give keys). */
async function keysPresent(session: DuckDbSession, relation: string, column: string, keys: readonly string[]): Promise<Set<string>> {
  const present = new Set<string>();
  await forKeyLists(keys, async (list, values) => {
    const rows = await session.rows<{ k: string }>(`SELECT DISTINCT CAST("${column}" AS VARCHAR) AS k FROM ${relation} WHERE CAST("${column}" AS VARCHAR) IN (${list})`, values);
    for (const { k } of rows) present.add(k);
  });
  return present;
}

/** Deletes the rows whose key is one of `keys` (null: the rows without a key). */
export async function deleteKeys(session: DuckDbSession, relation: string, column: string, keys: readonly (string | null)[]): Promise<void> {
  if (keys.includes(null)) await session.run(`DELETE FROM ${relation} WHERE "${column}" IS NULL`);
  await forKeyLists(
    keys.filter((key): key is string => key !== null),
    (list, values) => session.run(`DELETE FROM ${relation} WHERE CAST("${column}" AS VARCHAR) IN (${list})`, values),
  );
}

/** Runs `work` on `keys` a thousand at a time, each as a parameter list (`$1, $2, …`) and its values. */
async function forKeyLists(keys: readonly string[], work: (list: string, values: string[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const values = keys.slice(i, i + 1000);
    await work(values.map((_, j) => `$${j + 1}`).join(', '), values);
  }
}

/** The lines of `file` whose key is in `keys`, by key: to hold rows found bad after staging. */
export async function linesWithKeys(file: string, primaryKey: string, keys: ReadonlySet<string>): Promise<Map<string, { line: number; text: string }>> {
  const found = new Map<string, { line: number; text: string }>();
  await forEachLine(file, ({ line, text }) => {
    const key = keyOfLine(text, primaryKey);
    if (key !== null && keys.has(key)) found.set(key, { line, text });
  });
  return found;
}

async function writeLines(file: string, lines: Iterable<string>): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  function* withNewlines() {
    for (const line of lines) yield `${line}\n`;
  }
  await pipeline(Readable.from(withNewlines()), createGzip({ level: 1 }), createWriteStream(file));
}

/** The error for a rejected object, naming the first bad line and field when it can be found. */
async function badInput(file: string, table: SourceTable, where: string, engineMessage: string, policy: RowPolicy): Promise<BadInputError> {
  const bad = await findFirstBadLine(file, table, policy);
  if (!bad) return new BadInputError(`Bad input in ${where}: ${engineMessage}`);
  const key = bad.key === null ? '' : ` (${table.primaryKey} ${bad.key})`;
  const field = bad.field ? `, field ${bad.field}` : '';
  return new BadInputError(`Bad input in ${where}, line ${bad.line}${key}${field}: ${bad.problem}`);
}
