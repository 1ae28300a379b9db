import type { BatchManifest } from './batch-manifests';
import type { TotesysTableName } from './totesys-tables';
import type { WarehouseTableName } from './warehouse-tables';

/**
 * The processed bucket: a manifest per batch (see batch-manifests.ts; batch n here is the
 * transform of ingestion batch n) and
 *
 *   tables/<warehouse table>/batch-<n>/<attemptId>.parquet    the rows Load applies for batch n
 *   state/<source table>/batch-<n>/<attemptId>.parquet        the source rows batch n changed,
 *                                                             or a compaction of all of them
 */
export function processedTableKey(table: WarehouseTableName, batchId: string, attemptId: string): string {
  return `tables/${table}/batch-${batchId}/${attemptId}.parquet`;
}

export function sourceStateKey(table: TotesysTableName, batchId: string, attemptId: string): string {
  return `state/${table}/batch-${batchId}/${attemptId}.parquet`;
}

export interface ProcessedTable {
  readonly key: string;
  readonly rows: number;
}

/** A committed transform of one ingestion batch. */
export interface ProcessedManifest extends BatchManifest {
  readonly previousBatchId: string | null;
  readonly transformedAt: string;
  /** Warehouse tables with at least one row for this batch; a table with none has no entry and no object. */
  readonly tables: Partial<Record<WarehouseTableName, ProcessedTable>>;
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
