import type { TransactionSql } from 'postgres';
import { nextKeySet, type KeySets } from '../extract/key-sets';
import { changedKeysSql, extractionBounds, parseSnapshot, scanMode, type ExtractionState } from '../extract/row-versions';
import { setLocal } from '../shared/database';
import { PipelineStateError } from '../shared/errors';
import { TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type TotesysTableName } from '../shared/totesys-tables';

/**
 * What changed in ToteSys after a batch's snapshot S, read in the current snapshot: the rows
 * whose version S did not see (written after S, or by a transaction S saw running: exactly
 * Extract's rule, functions/extract/row-versions.ts, with S as the previous state), and the keys
 * of S's key set that are gone (deleted after S: found as Extract finds deletions). Every other
 * row of ToteSys is as it was in S, so it is what the warehouse must hold for that batch.
 */
export interface ChangesSince {
  /** Keys of rows present now whose version is newer than S (updated, or inserted, after S), ascending. */
  readonly changed: ReadonlyMap<TotesysTableName, readonly number[]>;
  /** Keys in S's key set that are no longer present, ascending; empty without key sets. */
  readonly deleted: ReadonlyMap<TotesysTableName, readonly number[]>;
  /** False when the batch has no key sets (made before they existed): deletions since S cannot be told. */
  readonly knowsDeletions: boolean;
  /** The current snapshot, pg_snapshot text. */
  readonly snapshot: string;
}

/** Must run in a REPEATABLE READ transaction on ToteSys: every read is of the same snapshot. */
export async function readChangesSince(tx: TransactionSql, batchId: string, state: ExtractionState, keySets: KeySets | undefined): Promise<ChangesSince> {
  const [{ snapshot: text }] = (await tx`SELECT pg_current_snapshot()::text AS snapshot`) as unknown as [{ snapshot: string }];
  const current = parseSnapshot(text);
  if (parseSnapshot(state.snapshot).xmax > current.xmax) {
    throw new PipelineStateError(
      `ToteSys transaction ids went backwards (batch ${batchId} saw ${state.snapshot}, now ${text}): ` +
        'the database was restored or replaced since the batch, so it cannot be compared with the warehouse',
    );
  }
  await setLocal(tx, extractionBounds(current, state));
  // scanMode gives 'all' only without a previous state; here there always is one.
  const mode = scanMode(current, state) === 'changed-prefiltered' ? 'changed-prefiltered' : 'changed';
  const changed = new Map<TotesysTableName, number[]>();
  const deleted = new Map<TotesysTableName, number[]>();
  for (const name of TOTESYS_TABLE_NAMES) {
    const keys = (await tx.unsafe<{ key: number }[]>(`${changedKeysSql(TOTESYS_TABLES[name], mode)} ORDER BY 1`)).map((row) => row.key);
    changed.set(name, keys);
    const keysAtBatch = keySets?.tables[name];
    if (keysAtBatch) deleted.set(name, (await nextKeySet(tx, TOTESYS_TABLES[name], keysAtBatch, keys)).deleted.sort((a, b) => a - b));
    else deleted.set(name, []);
  }
  return { changed, deleted, knowsDeletions: keySets !== undefined, snapshot: text };
}

/** Of `keys` (sorted), those with no row in the ToteSys table now. */
export async function keysAbsentNow(tx: TransactionSql, table: TotesysTableName, keys: readonly number[]): Promise<number[]> {
  if (keys.length === 0) return [];
  const { name, primaryKey } = TOTESYS_TABLES[table];
  const rows = await tx.unsafe<{ key: number }[]>(
    `SELECT listed.key FROM unnest($1::int[]) AS listed(key)
     WHERE NOT EXISTS (SELECT 1 FROM "public"."${name}" t WHERE t."${primaryKey}" = listed.key)
     ORDER BY 1`,
    [keys as number[]],
  );
  return rows.map((row) => row.key);
}
