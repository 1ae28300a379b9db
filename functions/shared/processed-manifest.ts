import type { BatchManifest } from './batch-manifests';
import type { LakeReference } from './ingestion-manifest';
import type { TotesysTableName } from './totesys-tables';
import type { WarehouseTableName } from './warehouse-tables';
import type { QuarantineRecord } from './quarantine';

/**
 * The processed bucket: a manifest per batch (see batch-manifests.ts; batch n here is the
 * transform of ingestion batch n) and
 *
 *   tables/<warehouse table>/batch-<n>/<attemptId>.parquet    the rows Load applies for batch n
 *   state/<source table>/batch-<n>/<attemptId>.parquet        the source rows batch n changed,
 *                                                             or a compaction of all of them
 *   quarantine/batch-<n>/<attemptId>.jsonl.gz                 the rows held after batch n
 */
export function processedTableKey(table: WarehouseTableName, batchId: string, attemptId: string): string {
  return `tables/${table}/batch-${batchId}/${attemptId}.parquet`;
}

export function sourceStateKey(table: TotesysTableName, batchId: string, attemptId: string): string {
  return `state/${table}/batch-${batchId}/${attemptId}.parquet`;
}

/** The ToteSys rows batch n saw deleted: source_table, source_key, deleted_seen_at. */
export function processedDeletionsKey(batchId: string, attemptId: string): string {
  return `deletions/batch-${batchId}/${attemptId}.parquet`;
}

export interface ProcessedTable {
  readonly key: string;
  readonly rows: number;
}

/** A committed transform of one ingestion batch. */
export interface ProcessedManifest extends BatchManifest {
  readonly previousBatchId: string | null;
  /** The lake the batch came from, and its ingestion bucket. */
  readonly lake: LakeReference & { readonly ingestion: string };
  readonly transformedAt: string;
  /** Warehouse tables with at least one row for this batch; a table with none has no entry and no object. */
  readonly tables: Partial<Record<WarehouseTableName, ProcessedTable>>;
  /** The batch's deletions, when it saw any. */
  readonly deletions?: ProcessedTable;
  /** What the batch did to the quarantine, and the held set after it (functions/transform/quarantine.ts). */
  readonly quarantine?: QuarantineRecord;
  readonly state: TransformState;
}

/**
 * What the next transform needs: the current state of the source tables that dimensions are
 * built from (each a list of parts, newest last, whose union latest-per-key is the current table),
 * and the calendar's range so far.
 */
export interface TransformState {
  readonly sources: Partial<Record<TotesysTableName, readonly string[]>>;
  readonly calendar: { readonly firstDay: string; readonly lastDay: string } | null;
}
