import type { S3Client } from '@aws-sdk/client-s3';
import path from 'node:path';
import { sequenceOf } from '../shared/batch-manifests';
import { sourceStateKey, type TransformState } from '../shared/processed-manifest';
import { TOTESYS_TABLES, type TotesysTableName } from '../shared/totesys-tables';
import type { DuckDbSession } from '../shared/duckdb-session';
import { allUploaded, uploadFile, type BucketFiles } from '../shared/s3-files';
import { CURRENT_STATE_TABLES, REFERENCE_CHECKS } from './models/models';

/**
 * The current state of the ToteSys tables that dimensions are built from or that other rows
 * reference (CURRENT_STATE_TABLES, derived from what the models and their checks read), kept in
 * the processed bucket across batches so that a dimension row can be rebuilt from current values,
 * not from the batch alone. Each table's state is a list of Parquet parts
 * (the rows each batch changed, with the batch number in `_batch`); the current table is the
 * newest version of each key across the parts. Parts are immutable; after MAX_PARTS a batch
 * writes one compacted part instead, so reading the state stays cheap.
 */
const MAX_PARTS = 8;

/**
 * Creates `current_<table>` for every state table: the previous state with this batch applied.
 * A deletion is a part's row with `_deleted` set (its other columns null): the key leaves the
 * current table, so a deleted dimension source row is never rebuilt, nor referenced.
 */
export async function openSourceState(session: DuckDbSession, processed: BucketFiles, previous: TransformState | undefined, batchId: string): Promise<void> {
  for (const name of CURRENT_STATE_TABLES) {
    const parts = previous?.sources[name] ?? [];
    const files = await Promise.all(parts.map((key) => processed.file(key)));
    const versions = files.length > 0 ? `SELECT * FROM read_parquet(${parquetList(files)}, union_by_name = true) UNION ALL BY NAME ${batchChanges(name, batchId)}` : batchChanges(name, batchId);
    await session.run(`CREATE VIEW state_${name} AS
      SELECT * REPLACE (coalesce(_deleted, false) AS _deleted) FROM (${versions})
      QUALIFY row_number() OVER (PARTITION BY "${TOTESYS_TABLES[name].primaryKey}" ORDER BY _batch DESC) = 1`);
    await session.run(`CREATE VIEW current_${name} AS SELECT * EXCLUDE (_batch, _deleted) FROM state_${name} WHERE NOT _deleted`);
    await createCurrentKeys(session, name, files);
  }
}

/**
 * `current_keys_<table>`: the keys of `current_<table>` that the `relationships` checks look up,
 * which read them once per check and per pass. Of the previous state, only the keys this batch's
 * staged rows reference are worked out (their newest version across the parts, reading only the
 * key and version columns), once: a check asks about no other key, and the checks only ever take
 * rows out. The batch's rows are unique by key (the staging `unique` check), so its own keys need
 * no window. A view over what the batch holds now: a row the checks take out of the batch takes
 * its key out, or gives back its previous version's.
 */
async function createCurrentKeys(session: DuckDbSession, name: TotesysTableName, files: readonly string[]): Promise<void> {
  const key = `"${TOTESYS_TABLES[name].primaryKey}"`;
  const batchKeys = `SELECT ${key} FROM stg_${name}`;
  const referenced = REFERENCE_CHECKS.filter((check) => check.test.to === name).map(({ model, test }) => `SELECT "${test.column}" AS referenced FROM ${model.name}`);
  if (files.length === 0 || referenced.length === 0) {
    await session.run(`CREATE VIEW current_keys_${name} AS ${batchKeys}`);
    return;
  }
  await session.run(`CREATE TABLE previous_keys_${name} AS
    SELECT ${key}, coalesce(_deleted, false) AS _deleted FROM read_parquet(${parquetList(files)}, union_by_name = true)
    WHERE ${key} IN (${referenced.join(' UNION ')})
    QUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY _batch DESC) = 1`);
  await session.run(`CREATE VIEW current_keys_${name} AS ${batchKeys}
    UNION ALL SELECT ${key} FROM previous_keys_${name} p
    WHERE NOT p._deleted AND ${key} NOT IN (SELECT ${key} FROM stg_${name}) AND ${key} NOT IN (SELECT ${key} FROM deleted_${name})`);
}

/** The rows and the deletions of table `name` in this batch, as state rows. */
function batchChanges(name: TotesysTableName, batchId: string): string {
  const batch = sequenceOf(batchId);
  return `SELECT *, ${batch} AS _batch, false AS _deleted FROM stg_${name}
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
  const uploads: Promise<void>[] = [];
  for (const name of CURRENT_STATE_TABLES) {
    const parts = previous?.sources[name] ?? [];
    const [{ changed }] = (await session.rows<{ changed: bigint }>(
      `SELECT (SELECT count(*) FROM stg_${name}) + (SELECT count(*) FROM deleted_${name}) AS changed`,
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
    uploads.push(uploadFile(s3, bucket, key, file, 'application/vnd.apache.parquet'));
    sources[name] = compact ? [key] : [...parts, key];
  }
  await allUploaded(uploads);
  return sources;
}

function parquetList(files: readonly string[]): string {
  // Paths are the session's own (its folder, fixed table names, indexes): quoted as literals.
  return `[${files.map((file) => `'${file.replace(/'/g, "''")}'`).join(', ')}]`;
}
