import type { S3Client } from '@aws-sdk/client-s3';
import path from 'node:path';
import { sequenceOf } from '../shared/batch-manifests';
import { BadInputError } from '../shared/errors';
import { sourceStateKey, type TransformState } from '../shared/processed-manifest';
import { TOTESYS_TABLES, type TotesysTableName } from '../shared/totesys-tables';
import type { DuckDbSession } from '../shared/duckdb-session';
import { downloadObject, uploadFile } from '../shared/s3-files';
import { deleteKeys } from './stage-batch';

/**
 * The current state of the ToteSys tables that dimensions are built from or that other rows
 * reference, kept in the processed bucket across batches so that a dimension row can be rebuilt
 * from current values, not from the batch alone. Each table's state is a list of Parquet parts
 * (the rows each batch changed, with the batch number in `_batch`); the current table is the
 * newest version of each key across the parts. Parts are immutable; after MAX_PARTS a batch
 * writes one compacted part instead, so reading the state stays cheap.
 */
export const STATE_TABLES: readonly TotesysTableName[] = ['address', 'counterparty', 'currency', 'department', 'design', 'payment_type', 'staff', 'transaction'];
const MAX_PARTS = 8;

/**
 * Creates `current_<table>` for every state table: the previous state with this batch applied.
 * A deletion is a part's row with `_deleted` set (its other columns null): the key leaves the
 * current table, so a deleted dimension source row is never rebuilt, nor referenced.
 */
export async function openSourceState(session: DuckDbSession, s3: S3Client, bucket: string, previous: TransformState | undefined, batchId: string): Promise<void> {
  for (const name of STATE_TABLES) {
    const parts = previous?.sources[name] ?? [];
    const files = await Promise.all(
      parts.map(async (key, i) => {
        const file = path.join(session.dir, 'state', `${name}-${i}.parquet`);
        await downloadObject(s3, bucket, key, file);
        return file;
      }),
    );
    const versions = files.length > 0 ? `SELECT * FROM read_parquet(${parquetList(files)}, union_by_name = true) UNION ALL BY NAME ${batchChanges(name, batchId)}` : batchChanges(name, batchId);
    await session.run(`CREATE VIEW state_${name} AS
      SELECT * REPLACE (coalesce(_deleted, false) AS _deleted) FROM (${versions})
      QUALIFY row_number() OVER (PARTITION BY "${TOTESYS_TABLES[name].primaryKey}" ORDER BY _batch DESC) = 1`);
    await session.run(`CREATE VIEW current_${name} AS SELECT * EXCLUDE (_batch, _deleted) FROM state_${name} WHERE NOT _deleted`);
  }
}

/** The rows and the deletions of table `name` in this batch, as state rows. */
function batchChanges(name: TotesysTableName, batchId: string): string {
  const batch = sequenceOf(batchId);
  return `SELECT *, ${batch} AS _batch, false AS _deleted FROM batch_${name}
    UNION ALL BY NAME SELECT *, ${batch} AS _batch, true AS _deleted FROM deleted_${name}`;
}

/** Writes the parts this batch adds to the state and returns the new state's part lists. */
export async function saveSourceState(
  session: DuckDbSession,
  s3: S3Client,
  bucket: string,
  previous: TransformState | undefined,
  batchId: string,
  attemptId: string,
): Promise<TransformState['sources']> {
  const sources: Partial<Record<TotesysTableName, readonly string[]>> = {};
  for (const name of STATE_TABLES) {
    const parts = previous?.sources[name] ?? [];
    const [{ changed }] = (await session.rows<{ changed: bigint }>(
      `SELECT (SELECT count(*) FROM batch_${name}) + (SELECT count(*) FROM deleted_${name}) AS changed`,
    )) as [{ changed: bigint }];
    if (Number(changed) === 0) {
      if (parts.length > 0) sources[name] = parts;
      continue;
    }
    const compact = parts.length + 1 > MAX_PARTS;
    // A compaction is the whole current state: deletions need no record in it.
    const rows = compact ? `SELECT * FROM state_${name} WHERE NOT _deleted` : batchChanges(name, batchId);
    const file = path.join(session.dir, 'out', `state-${name}.parquet`);
    await session.run(`COPY (${rows}) TO $1 (FORMAT parquet, COMPRESSION zstd)`, [file]);
    const key = sourceStateKey(name, batchId, attemptId);
    await uploadFile(s3, bucket, key, file, 'application/vnd.apache.parquet');
    sources[name] = compact ? [key] : [...parts, key];
  }
  return sources;
}

/**
 * Rejects the batch when one of its rows references a key that no batch has delivered (a sales
 * order's staff, a payment's transaction, a counterparty's address …), naming the row and the key.
 */
export async function assertReferencesResolve(session: DuckDbSession, batchId: string): Promise<void> {
  for (const table of Object.values(TOTESYS_TABLES)) {
    for (const [column, target] of Object.entries(table.references ?? {})) {
      const [dangling] = await session.rows<{ id: number; ref: number }>(
        `SELECT b."${table.primaryKey}" AS id, b."${column}" AS ref FROM batch_${table.name} b
         WHERE b."${column}" IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM current_${target} t WHERE t."${TOTESYS_TABLES[target].primaryKey}" = b."${column}")
         LIMIT 1`,
      );
      if (dangling) {
        throw new BadInputError(
          `Bad input in table ${table.name}, batch ${batchId}: row ${table.primaryKey}=${dangling.id} references ${column}=${dangling.ref}, ` +
            `which no batch has delivered to ${target}`,
        );
      }
    }
  }
}

/** A staged row whose reference dangles: the row's key, the reference and why it is held. */
export interface DanglingReference {
  readonly table: TotesysTableName;
  readonly key: string;
  readonly field: string;
  readonly reason: string;
}

/**
 * Takes out of the batch every row whose reference no batch has delivered (a late-arriving
 * dimension row, or one held itself), and returns them to be held. Taking a row out can leave
 * others dangling (a payment of a held transaction), so it repeats until nothing dangles.
 */
export async function takeOutDanglingReferences(session: DuckDbSession): Promise<DanglingReference[]> {
  const taken: DanglingReference[] = [];
  for (;;) {
    const found: DanglingReference[] = [];
    const seen = new Set<string>();
    for (const table of Object.values(TOTESYS_TABLES)) {
      for (const [column, target] of Object.entries(table.references ?? {})) {
        const dangling = await session.rows<{ id: string; ref: string }>(
          `SELECT CAST(b."${table.primaryKey}" AS VARCHAR) AS id, CAST(b."${column}" AS VARCHAR) AS ref FROM batch_${table.name} b
           WHERE b."${column}" IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM current_${target} t WHERE t."${TOTESYS_TABLES[target].primaryKey}" = b."${column}")`,
        );
        for (const { id, ref } of dangling) {
          if (seen.has(`${table.name}/${id}`)) continue;
          seen.add(`${table.name}/${id}`);
          found.push({ table: table.name, key: id, field: column, reason: `references ${column}=${ref}, which no batch has delivered to ${target}` });
        }
      }
    }
    if (found.length === 0) return taken;
    for (const table of Object.values(TOTESYS_TABLES)) {
      const keys = found.filter((row) => row.table === table.name).map((row) => row.key);
      if (keys.length > 0) await deleteKeys(session, `batch_${table.name}`, table.primaryKey, keys);
    }
    taken.push(...found);
  }
}

function parquetList(files: readonly string[]): string {
  // Paths are the session's own (its folder, fixed table names, indexes): quoted as literals.
  return `[${files.map((file) => `'${file.replace(/'/g, "''")}'`).join(', ')}]`;
}
