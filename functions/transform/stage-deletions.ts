import { BadInputError } from '../shared/errors';
import type { DuckDbSession } from '../shared/duckdb-session';
import type { IngestionManifest } from '../shared/ingestion-manifest';
import type { BucketFiles } from '../shared/s3-files';
import { TOTESYS_TABLES, TOTESYS_TABLE_NAMES } from '../shared/totesys-tables';

/**
 * Loads the keys an ingestion batch saw deleted into DuckDB as `deleted_<table>` (the table's
 * primary key column only; empty when none), and `out_source_row_deletions`: every deletion with
 * its source table and when the extract saw it, as Load records them. Returns the deletions.
 */
export async function stageDeletions(session: DuckDbSession, ingestion: BucketFiles, manifest: IngestionManifest): Promise<number> {
  const seenAt = manifest.extractedAt.replace(/Z$/, '');
  const selects: string[] = [];
  for (const name of TOTESYS_TABLE_NAMES) {
    const key = TOTESYS_TABLES[name].primaryKey;
    const deleted = manifest.deletions?.[name];
    if (!deleted) {
      await session.run(`CREATE TABLE deleted_${name} ("${key}" INTEGER)`);
      continue;
    }
    const file = await ingestion.file(deleted.key);
    await session.run(
      `CREATE TABLE deleted_${name} AS SELECT "${key}" FROM read_json($1, format = 'newline_delimited', compression = 'gzip', columns = {"${key}": 'INTEGER'})`,
      [file],
    );
    const [{ rows }] = (await session.rows<{ rows: bigint }>(`SELECT count(DISTINCT "${key}") AS rows FROM deleted_${name} WHERE "${key}" IS NOT NULL`)) as [{ rows: bigint }];
    if (Number(rows) !== deleted.rows) {
      throw new BadInputError(`Bad input in table ${name}, object s3://${ingestion.bucket}/${deleted.key}: ${rows} distinct deleted keys, but the manifest says ${deleted.rows}`);
    }
    selects.push(`SELECT '${name}' AS source_table, "${key}" AS source_key, CAST($1 AS TIMESTAMP) AS deleted_seen_at FROM deleted_${name}`);
  }
  const rows = selects.length > 0 ? selects.join(' UNION ALL ') : `SELECT NULL::VARCHAR AS source_table, NULL::INTEGER AS source_key, CAST($1 AS TIMESTAMP) AS deleted_seen_at WHERE false`;
  await session.run(`CREATE TABLE out_source_row_deletions AS ${rows}`, [seenAt]);
  return manifest.totalDeletions ?? 0;
}
