import type { BatchManifest } from './batch-manifests';
import { INGESTION_PREFIX } from './lake-layout';
import type { TotesysTableName } from './totesys-tables';

/** The table's new row versions in batch n (the ingestion bucket's layout: lake-layout.ts). */
export function ingestionObjectKey(table: TotesysTableName, batchId: string, attemptId: string): string {
  return `${INGESTION_PREFIX.tables}${table}/batch-${batchId}/${attemptId}.jsonl.gz`;
}

/** The keys of `table` deleted since the previous batch, one JSON object a line: `{"<primary key>": n}`. */
export function deletionsObjectKey(table: TotesysTableName, batchId: string, attemptId: string): string {
  return `${INGESTION_PREFIX.deletions}${table}/batch-${batchId}/${attemptId}.jsonl.gz`;
}

/** Every table's key set as of batch n's snapshot (see functions/extract/key-sets.ts). */
export function keySetsObjectKey(batchId: string, attemptId: string): string {
  return `${INGESTION_PREFIX.keys}batch-${batchId}/${attemptId}.json.gz`;
}

/** Where the lake's identity lives: written once, by the first extract. */
export const LAKE_IDENTITY_KEY = `${INGESTION_PREFIX.lake}identity.json`;

/** Which lake a batch belongs to: its id, born with the first extract, and the source it reads. */
export interface LakeReference {
  readonly lakeId: string;
  /** The ToteSys database the lake is extracted from, as people read it. */
  readonly source: string;
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
  readonly lake: LakeReference;
  readonly extractedAt: string;
  /** The rows in this batch are the row versions visible in `range.to` and not in `range.from`. */
  readonly range: { readonly from: string | null; readonly to: string };
  /** What the next extract needs: see functions/extract/row-versions.ts. */
  readonly state: {
    readonly snapshot: string;
    readonly committedXids: readonly string[];
    /** The object holding every table's key set as of `snapshot`. */
    readonly keySetsKey: string;
  };
  /** Tables with at least one changed row; a table with none has no entry and no object. */
  readonly tables: Partial<Record<TotesysTableName, IngestedTable>>;
  readonly totalRows: number;
  /** Tables with keys deleted since the previous batch; a table with none has no entry. */
  readonly deletions: Partial<Record<TotesysTableName, IngestedTable>>;
  readonly totalDeletions: number;
}
