import type { TransactionSql } from 'postgres';
import { FACT_NAMES, WAREHOUSE_TABLES } from '../shared/warehouse-tables';
import { copyCsvInto, type CsvFile } from './incoming-table';

/** The columns of a batch's deletions object that Load reads. */
export const DELETION_COLUMNS = '"source_table", "source_key", "deleted_seen_at"';

/**
 * Records the ToteSys rows a batch saw deleted in `source_row_deletions`, after the batch's
 * versions were applied. A deleted fact source row leaves its current_* view (its history stays):
 * the deletion names the version that was current when it was seen. A deleted dimension source
 * row stays in its dimension, since old facts reference it; only its deletion is recorded.
 * Returns the deletions recorded.
 */
export async function applyDeletions(tx: TransactionSql, csv: CsvFile, batchId: string): Promise<number> {
  await tx.unsafe(`CREATE TEMPORARY TABLE incoming_deletions (source_table varchar, source_key int, deleted_seen_at timestamp) ON COMMIT DROP`);
  await copyCsvInto(tx, csv, 'incoming_deletions');
  const lastRecord = FACT_NAMES.map((fact) => {
    const { sourceTable, sourceKey, primaryKey } = WAREHOUSE_TABLES[fact];
    return `WHEN '${sourceTable}' THEN (SELECT max(f."${primaryKey}") FROM ${fact} f WHERE f."${sourceKey}" = d.source_key)`;
  });
  const result = await tx.unsafe(
    `INSERT INTO source_row_deletions (source_table, source_key, batch_id, deleted_seen_at, last_record_id)
     SELECT d.source_table, d.source_key, $1, d.deleted_seen_at AT TIME ZONE 'UTC', CASE d.source_table ${lastRecord.join(' ')} END
     FROM incoming_deletions d
     ON CONFLICT DO NOTHING`,
    [batchId],
  );
  return result.count;
}
