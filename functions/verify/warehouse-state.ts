import type { Sql, TransactionSql } from 'postgres';
import type { TotesysTableName } from '../shared/totesys-tables';

/**
 * What verification reads of the warehouse's own bookkeeping. Written to work on a warehouse on
 * either side of migration 002 (which moved the ledger into schema `pipeline` and added the
 * current_* views and source_row_deletions).
 */
type Database = Sql | TransactionSql;

export interface LoadedBatch {
  readonly batchId: string;
  /** The lake the batch came from; null when the ledger does not record lakes (before migration 002). */
  readonly lakeId: string | null;
}

/** The ledger's two homes, as fixed identifiers: pipeline.load_ledger, or public.pipeline_load_ledger before migration 002. */
const LEDGERS = ['pipeline.load_ledger', 'pipeline_load_ledger'] as const;

/** The newest batch in the load ledger, or undefined when the warehouse holds none (or was never migrated). */
export async function readLastLoadedBatch(sql: Database): Promise<LoadedBatch | undefined> {
  const [found] = await sql<{ current: boolean; legacy: boolean }[]>`
    SELECT to_regclass(${LEDGERS[0]}) IS NOT NULL AS current, to_regclass(${LEDGERS[1]}) IS NOT NULL AS legacy`;
  const ledger = found?.current ? LEDGERS[0] : found?.legacy ? LEDGERS[1] : undefined;
  if (!ledger) return undefined;
  // to_jsonb reads lake_id where the column exists and gives null where it does not.
  const [row] = await sql.unsafe<{ batch_id: string; lake_id: string | null }[]>(
    `SELECT batch_id, to_jsonb(l) ->> 'lake_id' AS lake_id FROM ${ledger} l ORDER BY batch_id DESC LIMIT 1`,
  );
  return row ? { batchId: row.batch_id, lakeId: row.lake_id } : undefined;
}

export interface WarehouseObjects {
  /** current_sales_order, current_purchase_order and current_payment exist. */
  readonly hasCurrentViews: boolean;
  /** source_row_deletions exists. */
  readonly hasDeletions: boolean;
  /** pipeline.quarantined_rows exists (migration 004). */
  readonly hasQuarantine: boolean;
}

export async function readWarehouseObjects(sql: Database): Promise<WarehouseObjects> {
  const [row] = await sql<{ views: boolean; deletions: boolean; quarantine: boolean }[]>`
    SELECT to_regclass('current_sales_order') IS NOT NULL AND to_regclass('current_purchase_order') IS NOT NULL
             AND to_regclass('current_payment') IS NOT NULL AS views,
           to_regclass('source_row_deletions') IS NOT NULL AS deletions,
           to_regclass('pipeline.quarantined_rows') IS NOT NULL AS quarantine`;
  return { hasCurrentViews: row?.views ?? false, hasDeletions: row?.deletions ?? false, hasQuarantine: row?.quarantine ?? false };
}

/** Every key of the given ToteSys tables whose deletion the warehouse records, by table, ascending. */
export async function readRecordedDeletions(sql: Database, tables: readonly TotesysTableName[]): Promise<Map<TotesysTableName, number[]>> {
  const rows = await sql<{ source_table: TotesysTableName; keys: number[] }[]>`
    SELECT source_table, array_agg(DISTINCT source_key ORDER BY source_key) AS keys
    FROM source_row_deletions WHERE source_table = ANY(${tables as string[]}::text[])
    GROUP BY source_table`;
  return new Map(rows.map((row) => [row.source_table, row.keys]));
}

/** The keys held in quarantine as of the last loaded batch, by ToteSys table (a line without a readable integer key has none). */
export async function readQuarantinedKeys(sql: Database): Promise<Map<TotesysTableName, number[]>> {
  const rows = await sql<{ source_table: TotesysTableName; keys: number[] }[]>`
    SELECT source_table, array_agg(DISTINCT source_key::int ORDER BY source_key::int) AS keys
    FROM pipeline.quarantined_rows WHERE source_key ~ '^-?[0-9]{1,9}$'
    GROUP BY source_table`;
  return new Map(rows.map((row) => [row.source_table, row.keys]));
}
