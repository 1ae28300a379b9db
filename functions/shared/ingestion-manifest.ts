import type { BatchManifest } from './batch-manifests';
import type { TotesysTableName } from './totesys-tables';

/**
 * The ingestion bucket: a manifest per batch (see batch-manifests.ts) and
 *
 *   tables/<table>/batch-<n>/<attemptId>.jsonl.gz    the table's new row versions in batch n
 */
export function ingestionObjectKey(table: TotesysTableName, batchId: string, attemptId: string): string {
  return `tables/${table}/batch-${batchId}/${attemptId}.jsonl.gz`;
}

/** What one extracted table contributed to a batch. */
export interface IngestedTable {
  readonly key: string;
  readonly rows: number;
  readonly bytes: number;
}

/** A committed ingestion batch. */
export interface IngestionManifest extends BatchManifest {
  readonly previousBatchId: string | null;
  readonly extractedAt: string;
  /** The rows in this batch are the row versions visible in `range.to` and not in `range.from`. */
  readonly range: { readonly from: string | null; readonly to: string };
  /** What the next extract needs: see functions/extract/row-versions.ts. */
  readonly state: { readonly snapshot: string; readonly committedXids: readonly string[] };
  /** Tables with at least one changed row; a table with none has no entry and no object. */
  readonly tables: Partial<Record<TotesysTableName, IngestedTable>>;
  readonly totalRows: number;
}
