import type { TransactionSql } from 'postgres';
import { BadInputError } from '../shared/errors';
import { WAREHOUSE_TABLES, type WarehouseTableName } from '../shared/warehouse-tables';

/**
 * Applies `stage_<table>` to the warehouse table, set-based: dimensions are upserted on their
 * natural key (type 1: latest values win; rows whose values did not change are not rewritten),
 * fact versions are appended when their content differs from the current version of their key
 * (docs/trust.md: versions by content), so the same content extracted twice is stored once.
 * Returns the rows written.
 */
export async function applyStagedTable(tx: TransactionSql, table: WarehouseTableName, batchId: string, bulkRows: number = BULK_ROWS): Promise<number> {
  const definition = WAREHOUSE_TABLES[table];
  const names = definition.columns.map((column) => column.name);
  const columns = names.map((name) => `"${name}"`).join(', ');
  if (definition.kind === 'dimension') {
    const updates = names.filter((name) => name !== definition.primaryKey);
    const result = await tx.unsafe(
      `INSERT INTO ${table} (${columns}) SELECT ${columns} FROM stage_${table}
       ON CONFLICT ("${definition.primaryKey}") DO UPDATE SET ${updates.map((name) => `"${name}" = EXCLUDED."${name}"`).join(', ')}
       WHERE (${updates.map((name) => `${table}."${name}"`).join(', ')}) IS DISTINCT FROM (${updates.map((name) => `EXCLUDED."${name}"`).join(', ')})`,
    );
    return result.count;
  }
  const append = async () => (await tx.unsafe(appendNewVersionsSql(table), [definition.sourceTable!])).count;
  const checkReferences = () => assertFactReferencesExist(tx, table, batchId);
  const { staged, bulk } = await stagedSize(tx, table, bulkRows);
  if (!bulk) {
    await checkReferences();
    return append();
  }
  const written = await withConstraintsRebuilt(tx, table, ['f'], append, checkReferences);
  // The rebuilt keys checked the rows written; versions already stored were skipped, not checked.
  if (written < staged) await checkReferences();
  return written;
}

/**
 * The staged versions whose content differs from the current version of their key (or whose key
 * has none: new, or deleted since), appended in one statement. "Current" is the highest record id
 * of the key not followed by a deletion, as the current_* views define it.
 */
function appendNewVersionsSql(table: WarehouseTableName): string {
  const definition = WAREHOUSE_TABLES[table];
  const key = `"${definition.sourceKey}"`;
  const record = `"${definition.primaryKey}"`;
  const names = definition.columns.map((column) => `"${column.name}"`);
  // LATERAL … LIMIT 1: one probe of the versions index per staged row, never a scan of the table.
  return `INSERT INTO ${table} (${names.join(', ')})
    SELECT ${names.map((name) => `s.${name}`).join(', ')} FROM stage_${table} s
    LEFT JOIN LATERAL (
      SELECT f.* FROM ${table} f WHERE f.${key} = s.${key} ORDER BY f.${record} DESC LIMIT 1
    ) latest ON NOT EXISTS (
      SELECT 1 FROM source_row_deletions d
      WHERE d.source_table = $1 AND d.source_key = latest.${key} AND d.last_record_id >= latest.${record}
    )
    WHERE latest.${key} IS NULL
       OR (${names.map((name) => `latest.${name}`).join(', ')}) IS DISTINCT FROM (${names.map((name) => `s.${name}`).join(', ')})`;
}

/**
 * A batch is bulk when it is large against the table (the first load, above all). PostgreSQL
 * checks a foreign key row by row, one lookup per key per row: on a fact table with nine keys
 * that is most of a bulk load's time (36 µs a row measured, against 3 µs for a dimension).
 */
export const BULK_ROWS = 10_000;

async function stagedSize(tx: TransactionSql, table: WarehouseTableName, bulkRows: number): Promise<{ staged: number; bulk: boolean }> {
  const [sizes] = await tx.unsafe<{ staged: number; existing: number }[]>(
    `SELECT (SELECT count(*) FROM stage_${table})::int AS staged, greatest((SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)), 0)::int AS existing`,
    [table],
  );
  return { staged: sizes!.staged, bulk: sizes!.staged >= bulkRows && sizes!.staged >= sizes!.existing / 5 };
}

/**
 * Runs `work` with the table's foreign keys (and, given 'u', unique keys) dropped, then adds them
 * back exactly as they were (definitions read from the catalog), which checks every row in one
 * set-based pass per key. All
 * inside the batch's transaction: on failure the keys come back with the rollback; the warehouse
 * never holds a row they would refuse. The table is locked for writes and reads until commit,
 * which a bulk load (the first, typically) can afford.
 */
export async function withConstraintsRebuilt<T>(
  tx: TransactionSql,
  table: WarehouseTableName,
  kinds: readonly ('f' | 'u')[],
  work: () => Promise<T>,
  explainViolation: () => Promise<void>,
): Promise<T> {
  const keys = await tx<{ name: string; definition: string }[]>`
    SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
    WHERE conrelid = to_regclass(${table}) AND contype = ANY(${kinds as string[]}) ORDER BY contype DESC, conname`;
  for (const key of keys) await tx.unsafe(`ALTER TABLE ${table} DROP CONSTRAINT ${quoteIdentifier(key.name)}`);
  const result = await work();
  try {
    // Identifiers and definitions come from the catalog, not from input.
    await tx.savepoint(async (sp) => {
      for (const key of keys) await sp.unsafe(`ALTER TABLE ${table} ADD CONSTRAINT ${quoteIdentifier(key.name)} ${key.definition}`);
    });
  } catch (error) {
    // A key refused a row: name it the way a row-by-row load would have (the savepoint keeps the transaction usable).
    if ((error as { code?: string }).code === '23503') await explainViolation();
    throw error;
  }
  return result;
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Rejects the batch when a staged fact references a dimension key the warehouse does not hold
 * after the batch's dimensions were applied, naming the table, the column, the key and the batch
 * (the foreign keys would refuse it too, with a less helpful message).
 */
export async function assertFactReferencesExist(tx: TransactionSql, table: WarehouseTableName, batchId: string, rows: string = `stage_${table}`): Promise<void> {
  for (const column of WAREHOUSE_TABLES[table].columns) {
    if (!column.references) continue;
    const dimension = WAREHOUSE_TABLES[column.references];
    const [dangling] = await tx.unsafe<{ key: string }[]>(
      `SELECT s."${column.name}"::text AS key FROM ${rows} s
       WHERE NOT EXISTS (SELECT 1 FROM ${dimension.name} d WHERE d."${dimension.primaryKey}" = s."${column.name}")
       LIMIT 1`,
    );
    if (dangling) {
      throw new BadInputError(
        `Batch ${batchId}: ${table}.${column.name} references ${dimension.name} key ${dangling.key}, which the warehouse does not hold`,
      );
    }
  }
}

/**
 * The first load of a table: with nothing in it yet, the batch's rows are copied straight into the
 * table, with a fact table's foreign keys and version index dropped and rebuilt around the copy:
 * one pass over the rows and one index build by sort, instead of staging, inserting and checking
 * each row. Returns the rows written.
 */
export async function loadIntoEmptyTable(tx: TransactionSql, table: WarehouseTableName, batchId: string, copy: () => Promise<void>): Promise<number> {
  const count = async () => ((await tx.unsafe(`SELECT count(*)::int AS rows FROM ${table}`)) as unknown as [{ rows: number }])[0].rows;
  if (WAREHOUSE_TABLES[table].kind === 'dimension') {
    await copy();
    return count();
  }
  return withConstraintsRebuilt(
    tx,
    table,
    ['f', 'u'],
    () =>
      withIndexesRebuilt(tx, table, async () => {
        await copy();
        return count();
      }),
    () => assertFactReferencesExist(tx, table, batchId, table),
  );
}

/** Runs `work` with the table's plain indexes (not those behind a key) dropped, then builds them again. */
async function withIndexesRebuilt<T>(tx: TransactionSql, table: WarehouseTableName, work: () => Promise<T>): Promise<T> {
  const indexes = await tx<{ name: string; definition: string }[]>`
    SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition FROM pg_index i
    WHERE i.indrelid = to_regclass(${table}) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    ORDER BY 1`;
  // Names and definitions come from the catalog, not from input.
  for (const index of indexes) await tx.unsafe(`DROP INDEX ${index.name}`);
  const result = await work();
  for (const index of indexes) await tx.unsafe(index.definition);
  return result;
}

/** True when the table holds no row. */
export async function isEmpty(tx: TransactionSql, table: WarehouseTableName): Promise<boolean> {
  const [{ empty }] = (await tx.unsafe(`SELECT NOT EXISTS (SELECT 1 FROM ${table}) AS empty`)) as unknown as [{ empty: boolean }];
  return empty;
}
