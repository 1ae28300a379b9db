import type { S3Client } from '@aws-sdk/client-s3';
import type { Sql, TransactionSql } from 'postgres';
import { batchIdOf, findManifest, manifestKey, nextBatchId, previousBatchIdOf, readLatestManifest, sequenceOf } from '../shared/batch-manifests';
import { setLocal } from '../shared/database';
import { withDuckDb, type DuckDbSettings } from '../shared/duckdb-session';
import { PipelineStateError } from '../shared/errors';
import { LOG_EVENTS, type LoadLogEvent, type LogEventWriter } from '../shared/log-events';
import type { LoadedTableName, LoadOutput } from '../shared/step-contract';
import type { ProcessedManifest } from '../shared/processed-manifest';
import { readHeldRows, type HeldRow } from '../shared/quarantine';
import { WAREHOUSE_TABLE_NAMES, WAREHOUSE_TABLES, type WarehouseTableName } from '../shared/warehouse-tables';
import { applyDeletions, DELETION_COLUMNS } from './apply-deletions';
import { forEachAsCsv, tableColumns, type ParquetObject } from './incoming-table';
import { assertSameLake, loadedLake, recordLake } from './lineage';
import { migrateWarehouse } from './migrate';
import { loadTable } from './load-strategy';

export interface LoadDependencies {
  readonly warehouse: Sql;
  readonly s3: S3Client;
  readonly processedBucket: string;
  readonly duckdb: DuckDbSettings;
  readonly log?: LogEventWriter<LoadLogEvent>;
  /** From how many rows a table's batch is large (a first load, or bulk): BULK_ROWS unless a test says otherwise (load-strategy.ts). */
  readonly bulkRows?: number;
}

const DELETIONS = 'source_row_deletions';

/**
 * The newest last_updated among a fact object's versions, for the warehouse's freshness (its
 * text, `YYYY-MM-DD HH:MM:SS.fff`, orders as the instants do). DuckDB reads it beside the object's
 * conversion, off PostgreSQL's path.
 */
const NEWEST_CHANGE = 'max(last_updated_date + last_updated_time)';

/**
 * How this transaction's statements run. Memory for its sorts and hashes (PostgreSQL's defaults
 * are 4 MB and 64 MB): a large batch rebuilds indexes by sort and checks each foreign key as one
 * join of the fact table against the dimension (PostgreSQL runs that check with
 * maintenance_work_mem), and the bulk append joins the incoming rows to the table's versions; at
 * scale 100 the check of 1.8M payments against 1.8M transactions went from 1.6 s to 1.2–1.3 s.
 * No JIT: it would compile the expressions of each large statement again, every batch, to run
 * them once. One loader runs at a time (LOAD_LOCK); SET LOCAL ends with the transaction.
 */
export const LOAD_SETTINGS = { work_mem: '64MB', maintenance_work_mem: '256MB', jit: 'off' } as const;

/** Any fixed number: every loader takes the same lock, so batches are applied one at a time. */
const LOAD_LOCK = 7_411_002;

/**
 * Brings the warehouse schema up to date, then loads every transformed batch the warehouse does
 * not hold yet, oldest first, up to `upToBatchId` (default: the newest transformed batch). A gap is
 * loaded before what follows it, never skipped.
 */
export async function loadPendingBatches(deps: LoadDependencies, upToBatchId?: string | null): Promise<LoadOutput> {
  await migrateWarehouse(deps.warehouse);
  const newest = await readLatestManifest<ProcessedManifest>(deps.s3, deps.processedBucket);
  assertSameLake(await loadedLake(deps.warehouse), newest, deps.processedBucket);
  const target = upToBatchId ?? newest?.batchId ?? null;
  const loaded: string[] = [];
  const rows: Partial<Record<LoadedTableName, number>> = {};
  let latest = await latestLoadedBatch(deps.warehouse);
  if (target) {
    for (let sequence = sequenceOf(nextBatchId(latest)); sequence <= sequenceOf(target); sequence += 1) {
      const written = await loadBatch(deps, batchIdOf(sequence));
      latest = batchIdOf(sequence);
      if (!written) continue;
      loaded.push(latest);
      for (const [table, count] of Object.entries(written)) rows[table as LoadedTableName] = (rows[table as LoadedTableName] ?? 0) + count;
    }
  }
  return { upToBatchId: latest, loadedBatchIds: loaded, rows };
}

export async function latestLoadedBatch(warehouse: Sql): Promise<string | null> {
  const [row] = await warehouse<{ batch_id: string | null }[]>`SELECT max(batch_id) AS batch_id FROM pipeline.load_ledger`;
  return row?.batch_id ?? null;
}

/**
 * Loads one transformed batch in one transaction: each table's rows written the way
 * load-strategy.ts chooses (dimensions upserted, fact versions appended), the deletions and the
 * quarantine recorded and the ledger row written together, so the warehouse holds all of the batch
 * or none of it.
 * Returns the rows written per table, or undefined when the ledger shows the batch loaded already.
 * Refuses a batch whose predecessor is not loaded.
 */
export async function loadBatch(deps: LoadDependencies, batchId: string): Promise<Partial<Record<LoadedTableName, number>> | undefined> {
  const log = deps.log ?? (() => {});
  const manifest = await findManifest<ProcessedManifest>(deps.s3, deps.processedBucket, batchId);
  if (!manifest) throw new PipelineStateError(`Batch ${batchId} cannot be loaded: it has not been transformed`);
  const started = Date.now();
  return withDuckDb(deps.duckdb, (session) =>
    deps.warehouse.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${LOAD_LOCK})`;
      const [already] = await tx`SELECT 1 FROM pipeline.load_ledger WHERE batch_id = ${batchId}`;
      if (already) {
        log(LOG_EVENTS.load.batchAlreadyLoaded, { batchId });
        return undefined;
      }
      const previous = previousBatchIdOf(batchId);
      if (previous && (await tx`SELECT 1 FROM pipeline.load_ledger WHERE batch_id = ${previous}`).length === 0) {
        throw new PipelineStateError(`Batch ${batchId} cannot be loaded before batch ${previous}: load the batches in order`);
      }

      await setLocal(tx, LOAD_SETTINGS);
      const written: Partial<Record<LoadedTableName, number>> = {};
      /** The newest last_updated of each fact table's versions in the batch, read from its Parquet object. */
      const newestChanges: (string | null)[] = [];
      const objects: ParquetObject[] = WAREHOUSE_TABLE_NAMES.flatMap((table) => {
        const output = manifest.tables[table];
        const newest = WAREHOUSE_TABLES[table].kind === 'fact' ? { aggregate: NEWEST_CHANGE } : {};
        return output ? [{ name: table, key: output.key, columns: tableColumns(table), ...newest }] : [];
      });
      if (manifest.deletions) objects.push({ name: DELETIONS, key: manifest.deletions.key, columns: DELETION_COLUMNS });
      await forEachAsCsv(session, deps.s3, deps.processedBucket, objects, async ({ name }, csv) => {
        if (name === DELETIONS) {
          const deleted = await applyDeletions(tx, csv, batchId);
          log(LOG_EVENTS.load.deletionsRecorded, { batchId, table: DELETIONS, rows: deleted, incoming: manifest.deletions!.rows });
          written[DELETIONS] = deleted;
          return;
        }
        const table = name as WarehouseTableName;
        const tableStarted = Date.now();
        const incoming = manifest.tables[table]!.rows;
        const loaded = await loadTable(tx, { batchId, table, csv, rows: incoming }, deps.bulkRows);
        written[table] = loaded.written;
        if (csv.aggregate !== undefined) newestChanges.push(csv.aggregate);
        log(LOG_EVENTS.load.tableLoaded, { batchId, table, rows: loaded.written, incoming, strategy: loaded.strategy, reason: loaded.reason, durationMs: Date.now() - tableStarted });
      });
      if (manifest.quarantine) {
        const held = await recordQuarantine(tx, await readHeldRows(deps.s3, deps.processedBucket, manifest.quarantine.key));
        log(LOG_EVENTS.load.quarantineRecorded, { batchId, held, added: manifest.quarantine.added, released: manifest.quarantine.released, closed: manifest.quarantine.closed });
      }
      const newestChange = newestChanges.filter((change): change is string => change !== null).sort().at(-1) ?? null;
      await recordLake(tx, manifest, deps.processedBucket);
      await tx`INSERT INTO pipeline.load_ledger (batch_id, processed_manifest_key, rows, newest_change, lake_id)
               VALUES (${batchId}, ${manifestKey(batchId)}, ${tx.json(written as Record<string, number>)}, ${newestChange}, ${manifest.lake?.lakeId ?? null})`;
      // ToteSys stamps UTC wall-clock time without a zone; the lag feeds the freshness metric.
      const changeLagSeconds = newestChange ? Math.round((Date.now() - Date.parse(`${newestChange.replace(' ', 'T')}Z`)) / 1000) : null;
      log(LOG_EVENTS.load.batchLoaded, { batchId, durationMs: Date.now() - started, newestChange, changeLagSeconds });
      return written;
    }),
  );
}

/** Replaces the held rows with the batch's: the quarantine as of the batch, beside its data. */
async function recordQuarantine(tx: TransactionSql, held: readonly HeldRow[]): Promise<number> {
  await tx`DELETE FROM pipeline.quarantined_rows`;
  for (let i = 0; i < held.length; i += 500) {
    const rows = held.slice(i, i + 500).map((row) => ({
      source_table: row.table,
      source_key: row.key,
      field: row.field,
      reason: row.reason,
      batch_id: row.batchId,
      object: row.object,
      line: row.line,
      original_line: row.text,
      held_since: row.heldSince,
      last_tried: row.lastTried,
    }));
    await tx`INSERT INTO pipeline.quarantined_rows ${tx(rows)}`;
  }
  return held.length;
}
