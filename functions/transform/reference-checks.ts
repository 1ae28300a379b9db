import { BadInputError } from '../shared/errors';
import type { DuckDbSession } from '../shared/duckdb-session';
import type { HeldRow, QuarantineChanges, RowPolicy } from '../shared/quarantine';
import type { TotesysTableName } from '../shared/totesys-tables';
import { REFERENCE_CHECKS, STAGING_MODELS } from './models/models';
import { failingRows, type FailingRow } from './row-tests';
import { deleteKeys, linesWithKeys, type StagedBatch } from './stage-batch';

/** A staged row whose reference dangles: the row's key, the reference and why it is held. */
interface DanglingReference extends FailingRow {
  readonly table: TotesysTableName;
  readonly key: string;
}

/**
 * The staging models' `relationships` checks (models/models.ts), run once the current state is
 * open: a row whose reference dangles is held (strict: the batch fails, unless the row is a held
 * one being retried, which simply stays held). Returns what the batch did to the quarantine.
 */
export async function holdDanglingReferences(session: DuckDbSession, staged: StagedBatch, batchId: string, policy: RowPolicy): Promise<QuarantineChanges> {
  const dangling = await takeOutDanglingReferences(session);
  const retried = new Map(staged.retried.map((row) => [`${row.table}/${row.key}`, row]));
  const fromBatch = dangling.filter((row) => !retried.has(`${row.table}/${row.key}`));
  if (policy.strict && fromBatch.length > 0) {
    const first = fromBatch[0]!;
    throw new BadInputError(`Bad input in table ${first.table}, batch ${batchId}: row ${keyColumnOf(first.table)}=${first.key} ${first.reason}`);
  }
  const stillHeld = [...staged.stillHeld];
  for (const row of dangling) {
    const again = retried.get(`${row.table}/${row.key}`);
    if (!again) continue;
    retried.delete(`${row.table}/${row.key}`);
    stillHeld.push({ ...again, field: row.field, reason: row.reason });
  }
  const added: HeldRow[] = [...staged.added];
  for (const table of new Set(fromBatch.map((row) => row.table))) {
    const source = staged.files[table]!;
    const rows = fromBatch.filter((row) => row.table === table);
    const lines = await linesWithKeys(source.file, keyColumnOf(table), new Set(rows.map((row) => row.key)));
    for (const row of rows) {
      const line = lines.get(row.key)!;
      added.push({ table, key: row.key, field: row.field, reason: row.reason, batchId, object: source.object, line: line.line, text: line.text, heldSince: batchId, lastTried: batchId });
    }
  }
  return { held: [...stillHeld, ...added], added, released: [...retried.values()], closed: staged.closed };
}

/**
 * Takes out of the staged tables every row whose reference no batch has delivered (a
 * late-arriving dimension row, or one held itself), and returns them, each with the first check
 * it fails. Taking a row out can leave others dangling (a payment of a held transaction), so it
 * repeats until nothing dangles.
 */
async function takeOutDanglingReferences(session: DuckDbSession): Promise<DanglingReference[]> {
  const taken: DanglingReference[] = [];
  const checks = REFERENCE_CHECKS.map(({ model, test }) => ({ relation: model.name, key: model.key, test, table: model.table }));
  for (;;) {
    const found = new Map<string, DanglingReference>();
    for (const row of await failingRows(session, checks)) {
      const { table } = row.check as (typeof checks)[number];
      const id = `${table}/${row.key}`;
      if (!found.has(id)) found.set(id, { ...row, table, key: row.key! });
    }
    if (found.size === 0) return taken;
    for (const model of STAGING_MODELS) {
      const keys = [...found.values()].filter((row) => row.table === model.table).map((row) => row.key);
      if (keys.length > 0) await deleteKeys(session, model.name, model.key, keys);
    }
    taken.push(...found.values());
  }
}

function keyColumnOf(table: TotesysTableName): string {
  return STAGING_MODELS.find((model) => model.table === table)!.key;
}
