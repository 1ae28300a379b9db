import type { BatchManifest } from './batch-manifests';
import type { LakeReference } from './ingestion-manifest';
import { PROCESSED_PREFIX } from './lake-layout';
import type { TotesysTableName } from './totesys-tables';
import type { WarehouseTableName } from './warehouse-tables';
import type { QuarantineRecord } from './quarantine';

/** The rows Load applies to `table` for batch n (the processed bucket's layout: lake-layout.ts). */
export function processedTableKey(table: WarehouseTableName, batchId: string, attemptId: string): string {
  return `${PROCESSED_PREFIX.tables}${table}/batch-${batchId}/${attemptId}.parquet`;
}

/** The source rows batch n changed in `table`, or a compaction of all of them (functions/transform/source-state.ts). */
export function sourceStateKey(table: TotesysTableName, batchId: string, attemptId: string): string {
  return `${PROCESSED_PREFIX.state}${table}/batch-${batchId}/${attemptId}.parquet`;
}

/** The ToteSys rows batch n saw deleted: source_table, source_key, deleted_seen_at. */
export function processedDeletionsKey(batchId: string, attemptId: string): string {
  return `${PROCESSED_PREFIX.deletions}batch-${batchId}/${attemptId}.parquet`;
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
