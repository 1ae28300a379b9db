import path from 'node:path';
import { BadInputError } from '../shared/errors';
import type { IngestionManifest } from '../shared/ingestion-manifest';
import type { DuckDbSession } from '../shared/duckdb-session';
import type { BucketFiles } from '../shared/s3-files';
import { forEachLine, keyOfLine, type ClosedBecause, type HeldRow, type RowPolicy } from '../shared/quarantine';
import type { TotesysTableName } from '../shared/totesys-tables';
import { describeBrokenRule, linesNumbered, writeNumberedLines, type BadLine, type BrokenRule } from './diagnose-jsonl';
import { STAGING_MODELS, type StagingModel } from './models/models';
import { failingRows } from './row-tests';
import { modelSql } from './run-models';
import { STAGING_JSONL_VARIABLE, STAGING_LINE_COLUMN, STAGING_PROBLEM_COLUMN } from './staging-models';

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
 * Builds every staging model (models/staging/stg_<table>.sql) from the ingestion batch's JSONL:
 * `stg_<table>`, its rows typed as ToteSys types them (a table without changes is empty). Needs
 * the batch's deletions staged first (`deleted_<table>`).
 *
 * Strict: the first bad value rejects the batch, naming the table, the object, the line and the
 * field. Otherwise each bad row is set aside with the same facts and the rest is staged; the rows
 * held by earlier batches are retried here too: one whose key this batch changes or deletes is
 * closed (the new version stands for it), any other is checked again and staged when it passes.
 */
export async function stageIngestedBatch(
  session: DuckDbSession,
  ingestion: BucketFiles,
  manifest: IngestionManifest,
  policy: RowPolicy,
  held: readonly HeldRow[],
): Promise<StagedBatch> {
  await defineRowRules(session, policy);
  const staged: StagedBatch = { rows: {} as Record<TotesysTableName, number>, added: [], stillHeld: [], retried: [], closed: [], files: {} };
  for (const model of STAGING_MODELS) {
    const name = model.table;
    const ingested = manifest.tables[name];
    const heldHere = held.filter((row) => row.table === name);
    const badKeys = new Set<string>();
    if (ingested) {
      const file = await ingestion.file(ingested.key);
      const object = `s3://${ingestion.bucket}/${ingested.key}`;
      staged.files[name] = { file, object };
      const bad = await stageObject(session, model, { file, object, policy, rows: ingested.rows });
      for (const line of bad) {
        staged.added.push({ table: name, key: line.key, field: line.field, reason: line.problem, batchId: manifest.batchId, object, line: line.line, text: line.text, heldSince: manifest.batchId, lastTried: manifest.batchId });
        if (line.key !== null) badKeys.add(line.key);
      }
    } else {
      await session.run(`CREATE TABLE ${model.name} (${model.contract.map((column) => `"${column.name}" ${column.type}`).join(', ')})`);
      if (heldHere.length === 0) {
        staged.rows[name] = 0;
        continue;
      }
    }
    await retryHeldRows(session, model, heldHere, badKeys, manifest.batchId, staged);
    const [{ rows, keys }] = (await session.rows<{ rows: bigint; keys: bigint }>(`SELECT count(*) AS rows, count(DISTINCT "${model.key}") AS keys FROM ${model.name}`)) as [
      { rows: bigint; keys: bigint },
    ];
    // The unique check, when the count says it fails: a key twice in one object is a broken object.
    if (keys !== rows) {
      const [twice] = await failingRows(session, model.tests.filter((test) => test.test === 'unique').map((test) => ({ relation: model.name, key: model.key, test })), 1);
      throw new BadInputError(`Bad input in table ${name}, object ${staged.files[name]?.object ?? '(held rows)'}: ${model.key} is not unique within the batch (${twice?.reason})`);
    }
    staged.rows[name] = Number(rows);
  }
  return staged;
}

/** The rules' macros (models/macros/row_rules.sql), and the days they accept. */
async function defineRowRules(session: DuckDbSession, policy: RowPolicy): Promise<void> {
  await session.run(modelSql('macros/row_rules.sql'));
  await session.run(`SET VARIABLE earliest_accepted_day = $1::VARCHAR`, [policy.earliestDate]);
  await session.run(`SET VARIABLE latest_accepted_day = $1::VARCHAR`, [policy.latestDate]);
}

/**
 * Runs a staging model over `file` into table `relation`: every line's row, with its `_line`
 * (null unless the file is a numbered copy) and `_problem` (its first broken rule, or null).
 */
async function runStagingModel(session: DuckDbSession, model: StagingModel, file: string, relation: string): Promise<void> {
  // The file is the session's own (its folder, fixed names): quoted as a literal, so both statements go in one call.
  await session.run(`SET VARIABLE ${STAGING_JSONL_VARIABLE} = '${file.replace(/'/g, "''")}'; CREATE OR REPLACE TABLE ${relation} AS ${modelSql(model.sql)}`);
}

/** Drops the staging model's own columns once its rows have been sorted out: what is left is the ToteSys table. */
async function keepTableColumns(session: DuckDbSession, relation: string): Promise<void> {
  await session.run(`ALTER TABLE ${relation} DROP COLUMN ${STAGING_PROBLEM_COLUMN}; ALTER TABLE ${relation} DROP COLUMN ${STAGING_LINE_COLUMN}`);
}

interface IngestedObject {
  readonly file: string;
  readonly object: string;
  readonly policy: RowPolicy;
  /** The row count its manifest gives. */
  readonly rows: number;
}

/**
 * `stg_<table>` from one ingested object: its rows that keep every rule, less those whose key a
 * bad row also has. Returns the bad lines, to be held. A whole-object problem (the manifest's
 * row count) fails the batch, and so, strict, does a bad line.
 */
async function stageObject(session: DuckDbSession, model: StagingModel, ingested: IngestedObject): Promise<BadLine[]> {
  const where = `table ${model.table}, object ${ingested.object}`;
  let unreadable: Error | undefined;
  try {
    await runStagingModel(session, model, ingested.file, model.name);
    const [counts] = await session.rows<{ rows: bigint; broken: bigint }>(`SELECT count(*) AS rows, count(${STAGING_PROBLEM_COLUMN}) AS broken FROM ${model.name}`);
    if (Number(counts!.broken) === 0 && Number(counts!.rows) === ingested.rows) {
      await keepTableColumns(session, model.name);
      return [];
    }
  } catch (error) {
    unreadable = error as Error; // a line DuckDB cannot read at all
  }
  // The rare path: a bad line, or a count to explain. The model runs again over a numbered copy
  // of the object's readable lines, to name each bad row's line.
  const bad = await checkNumberedLines(session, model, ingested.file, where);
  if (unreadable && ingested.policy.strict) throw badInput(where, model.key, bad[0], unreadable.message);
  const [{ rows }] = (await session.rows<{ rows: bigint }>(`SELECT count(*) AS rows FROM ${model.name}`)) as [{ rows: bigint }];
  const unreadableLines = bad.filter((line) => line.field === null).length;
  if (Number(rows) + unreadableLines !== ingested.rows) {
    throw new BadInputError(`Bad input in ${where}: ${Number(rows) + unreadableLines} rows, but the manifest says ${ingested.rows}`);
  }
  if (bad.length > 0 && ingested.policy.strict) throw badInput(where, model.key, bad[0]!);
  await session.run(`DELETE FROM ${model.name} WHERE ${STAGING_PROBLEM_COLUMN} IS NOT NULL`);
  await keepTableColumns(session, model.name);
  await deleteKeys(session, model.name, model.key, bad.map((line) => line.key));
  return bad;
}

/**
 * Rebuilds `stg_<table>` from a numbered copy of `file`'s lines that are JSON objects (every row,
 * `_problem` set on the bad ones), and returns the bad lines in line order: those that are not
 * rows, and the rows that break a rule, as their lines give them.
 */
async function checkNumberedLines(session: DuckDbSession, model: StagingModel, file: string, where: string): Promise<BadLine[]> {
  const numbered = path.join(path.dirname(file), `${model.table}.numbered.jsonl.gz`);
  const unreadable = await writeNumberedLines(numbered, model.key, (add) => forEachLine(file, add));
  try {
    await runStagingModel(session, model, numbered, model.name);
  } catch (error) {
    throw new BadInputError(`Bad input in ${where}: ${(error as Error).message}`);
  }
  const broken = await brokenRules(session, model.name);
  const texts = await linesNumbered(file, new Set(broken.keys()));
  const bad = [...broken].map(([line, rule]) => badLine(line, texts.get(line)!, model.key, rule));
  return [...unreadable, ...bad].sort((a, b) => a.line - b.line);
}

/** The rows of a staging model's table that break a rule, by line. */
async function brokenRules(session: DuckDbSession, relation: string): Promise<Map<number, BrokenRule>> {
  const rows = await session.rows<{ line: bigint; problem: BrokenRule }>(
    `SELECT ${STAGING_LINE_COLUMN} AS line, ${STAGING_PROBLEM_COLUMN} AS problem FROM ${relation} WHERE ${STAGING_PROBLEM_COLUMN} IS NOT NULL ORDER BY 1`,
  );
  return new Map(rows.map((row) => [Number(row.line), row.problem]));
}

function badLine(line: number, text: string, primaryKey: string, rule: BrokenRule): BadLine {
  return { line, key: keyOfLine(text, primaryKey), field: rule.field, problem: describeBrokenRule(text, rule), text };
}

/**
 * The rows earlier batches held for this table: closed when this batch brings their key again
 * (changed, or badly again) or deletes it; otherwise checked again by the staging model, and
 * staged when they pass.
 */
async function retryHeldRows(
  session: DuckDbSession,
  model: StagingModel,
  held: readonly HeldRow[],
  badKeys: ReadonlySet<string>,
  batchId: string,
  staged: StagedBatch,
): Promise<void> {
  if (held.length === 0) return;
  const keys = held.flatMap((row) => (row.key === null ? [] : [row.key]));
  const changed = await keysPresent(session, model.name, model.key, keys);
  const deleted = await keysPresent(session, `deleted_${model.table}`, model.key, keys);
  const retry: HeldRow[] = [];
  for (const row of held) {
    if (row.key !== null && (changed.has(row.key) || badKeys.has(row.key))) staged.closed.push({ ...row, because: 'superseded' });
    else if (row.key !== null && deleted.has(row.key)) staged.closed.push({ ...row, because: 'deleted' });
    else retry.push({ ...row, lastTried: batchId });
  }
  if (retry.length === 0) return;
  // Each held row's line, numbered by its place in `retry`, through the staging model.
  const numbered = path.join(session.dir, 'ingested', `${model.table}.held.jsonl.gz`);
  const unreadable = await writeNumberedLines(numbered, model.key, async (add) => retry.forEach((row, i) => add({ line: i + 1, text: row.text })));
  const relation = `${model.name}__held`;
  await runStagingModel(session, model, numbered, relation);
  const broken = await brokenRules(session, relation);
  const shapes = new Map(unreadable.map((line) => [line.line, line.problem]));
  retry.forEach((row, i) => {
    const shape = shapes.get(i + 1);
    const rule = broken.get(i + 1);
    if (shape !== undefined) staged.stillHeld.push({ ...row, field: null, reason: shape });
    else if (rule) staged.stillHeld.push({ ...row, field: rule.field, reason: describeBrokenRule(row.text, rule) });
    else staged.retried.push(row);
  });
  await session.run(
    `INSERT INTO ${model.name} SELECT * EXCLUDE (${STAGING_LINE_COLUMN}, ${STAGING_PROBLEM_COLUMN}) FROM ${relation} WHERE ${STAGING_PROBLEM_COLUMN} IS NULL`,
  );
  await session.run(`DROP TABLE ${relation}`);
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

/** The error for a rejected object, naming its first bad line and field when there is one. */
function badInput(where: string, primaryKey: string, bad: BadLine | undefined, engineMessage?: string): BadInputError {
  if (!bad) return new BadInputError(`Bad input in ${where}: ${engineMessage}`);
  const key = bad.key === null ? '' : ` (${primaryKey} ${bad.key})`;
  const field = bad.field ? `, field ${bad.field}` : '';
  return new BadInputError(`Bad input in ${where}, line ${bad.line}${key}${field}: ${bad.problem}`);
}
