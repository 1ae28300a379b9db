import type { Sql, TransactionSql } from 'postgres';
import { PipelineStateError } from '../shared/errors';
import type { ProcessedManifest } from '../shared/processed-manifest';
import { WAREHOUSE_TABLE_NAMES } from '../shared/warehouse-tables';

/**
 * Lineage: which lake the warehouse was loaded from. The lake id is born with the first extract
 * and travels in every manifest; the warehouse records it with its first batch (pipeline.lakes)
 * and in every ledger row. A warehouse loaded from one lake never takes batches of another, nor
 * goes on from a lake that holds fewer batches than it has loaded (a reset lake): either would
 * leave data out or count it twice, and "Succeeded" would lie.
 */
export interface LoadedLake {
  readonly lakeId: string | null;
  readonly source: string | null;
  readonly ingestion: string | null;
  readonly processed: string | null;
  readonly upToBatchId: string;
}

/** The lake of the newest loaded batch, or undefined when the warehouse holds none. */
export async function loadedLake(sql: Sql | TransactionSql): Promise<LoadedLake | undefined> {
  const [row] = await sql<{ batch_id: string; lake_id: string | null; source: string | null; ingestion: string | null; processed: string | null }[]>`
    SELECT l.batch_id, l.lake_id, k.source, k.ingestion, k.processed
    FROM pipeline.load_ledger l LEFT JOIN pipeline.lakes k USING (lake_id)
    ORDER BY l.batch_id DESC LIMIT 1`;
  if (!row) return undefined;
  return { lakeId: row.lake_id, source: row.source, ingestion: row.ingestion, processed: row.processed, upToBatchId: row.batch_id };
}

/** The command that empties the warehouse and loads every batch of the lake it is pointed at. */
export const REBUILD_COMMAND = 'npm run rebuild-warehouse -- --yes';

/**
 * Refuses to load from `processedBucket` when its newest batch (`latest`) is of another lake than
 * the warehouse's, or when the lake holds fewer batches than the warehouse has loaded.
 */
export function assertSameLake(loaded: LoadedLake | undefined, latest: ProcessedManifest | undefined, processedBucket: string): void {
  if (!loaded) return;
  const here = `s3://${processedBucket}`;
  const warehouseSide =
    `The warehouse was loaded from lake ${loaded.lakeId ?? '(unrecorded)'}` +
    `${loaded.source ? ` (${loaded.source}, ingestion ${loaded.ingestion}, processed ${loaded.processed})` : ''}, up to batch ${loaded.upToBatchId}`;
  let lakeSide: string | undefined;
  if (!latest) lakeSide = `but the processed bucket ${here} holds no batch at all (a new or reset lake)`;
  else if (latest.lake?.lakeId !== loaded.lakeId && loaded.lakeId !== null) {
    lakeSide = `but the processed bucket ${here} holds batches of lake ${latest.lake?.lakeId ?? '(unrecorded)'}${latest.lake ? ` (${latest.lake.source}, ingestion ${latest.lake.ingestion})` : ''}, up to batch ${latest.batchId}`;
  } else if (latest.batchId < loaded.upToBatchId) {
    lakeSide = `but the processed bucket ${here} holds batches only up to ${latest.batchId} (the lake was reset or is behind)`;
  }
  if (!lakeSide) return;
  throw new PipelineStateError(
    `${warehouseSide}, ${lakeSide}. Loading it would leave changes out or count them twice, so nothing was loaded. Ways out: ` +
      `(1) load this lake into a fresh warehouse: point WAREHOUSE_DATABASE_URL (in AWS, the warehouse secret) at an empty database; ` +
      `(2) rebuild this warehouse from this lake: ${REBUILD_COMMAND} (empties the star schemas, deletions and ledger, then loads every batch of this lake; ` +
      `versions older than this lake are lost); (3) if this is the wrong lake, point the pipeline back at the buckets of lake ${loaded.lakeId ?? '(unrecorded)'}.`,
  );
}

/** Records the lake with the warehouse's first batch of it. */
export async function recordLake(tx: TransactionSql, manifest: ProcessedManifest, processedBucket: string): Promise<void> {
  if (!manifest.lake) return;
  await tx`INSERT INTO pipeline.lakes (lake_id, source, ingestion, processed, first_batch_id)
           VALUES (${manifest.lake.lakeId}, ${manifest.lake.source}, ${manifest.lake.ingestion}, ${`s3://${processedBucket}`}, ${manifest.batchId})
           ON CONFLICT (lake_id) DO NOTHING`;
}

/**
 * Empties the star schemas, the recorded deletions, the held rows and the bookkeeping of loaded
 * batches and lakes, in one transaction, so that the next load starts from the first batch of
 * whatever lake it is pointed at. The schema and its migrations stay.
 */
export async function emptyWarehouse(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx.unsafe(`TRUNCATE ${[...WAREHOUSE_TABLE_NAMES, 'source_row_deletions', 'pipeline.load_ledger', 'pipeline.lakes', 'pipeline.quarantined_rows'].join(', ')} RESTART IDENTITY`);
  });
}
