/**
 * The set-based statements Load applies a batch's rows with. Which of them a table's batch goes
 * through (first load, bulk or incremental) is decided in load-strategy.ts, and only there.
 * Identifiers come from the warehouse contract (warehouse-tables.ts), the catalog or
 * incoming-table.ts, never from input; values are parameters.
 */
import type { TransactionSql } from 'postgres';
import { BadInputError } from '../shared/errors';
import { WAREHOUSE_TABLES, type WarehouseTableName } from '../shared/warehouse-tables';

/**
 * Upserts a dimension's rows from `incoming` on its natural key (type 1: latest values win; rows
 * whose values did not change are not rewritten). Returns the rows written.
 */
export async function upsertDimension(tx: TransactionSql, table: WarehouseTableName, incoming: string): Promise<number> {
  const definition = WAREHOUSE_TABLES[table];
  const names = definition.columns.map((column) => column.name);
  const columns = names.map((name) => `"${name}"`).join(', ');
  const updates = names.filter((name) => name !== definition.primaryKey);
  const result = await tx.unsafe(
    `INSERT INTO ${table} (${columns}) SELECT ${columns} FROM ${incoming}
     ON CONFLICT ("${definition.primaryKey}") DO UPDATE SET ${updates.map((name) => `"${name}" = EXCLUDED."${name}"`).join(', ')}
     WHERE (${updates.map((name) => `${table}."${name}"`).join(', ')}) IS DISTINCT FROM (${updates.map((name) => `EXCLUDED."${name}"`).join(', ')})`,
  );
  return result.count;
}

/**
 * Appends the fact versions of `incoming` whose content differs from the current version of their
 * key (or whose key has none: new, or deleted since), in one statement (docs/trust.md: versions by
 * content), so the same content extracted twice is stored once. "Current" is the highest record id
 * of the key not followed by a deletion, as the current_* views define it. Returns the rows written.
 */
export async function appendNewVersions(tx: TransactionSql, table: WarehouseTableName, incoming: string): Promise<number> {
  const definition = WAREHOUSE_TABLES[table];
  const key = `"${definition.sourceKey}"`;
  const record = `"${definition.primaryKey}"`;
  const names = definition.columns.map((column) => `"${column.name}"`);
  // LATERAL … LIMIT 1: one probe of the versions index per incoming row, never a scan of the table.
  const result = await tx.unsafe(
    `INSERT INTO ${table} (${names.join(', ')})
    SELECT ${names.map((name) => `i.${name}`).join(', ')} FROM ${incoming} i
    LEFT JOIN LATERAL (
      SELECT f.* FROM ${table} f WHERE f.${key} = i.${key} ORDER BY f.${record} DESC LIMIT 1
    ) latest ON NOT EXISTS (
      SELECT 1 FROM source_row_deletions d
      WHERE d.source_table = $1 AND d.source_key = latest.${key} AND d.last_record_id >= latest.${record}
    )
    WHERE latest.${key} IS NULL
       OR (${names.map((name) => `latest.${name}`).join(', ')}) IS DISTINCT FROM (${names.map((name) => `i.${name}`).join(', ')})`,
    [definition.sourceTable!],
  );
  return result.count;
}

/**
 * Runs `work` with the table's foreign keys (and, given 'u', unique keys) dropped, then adds them
 * back exactly as they were (definitions read from the catalog), which checks every row in one
 * set-based pass per key. All inside the batch's transaction: on failure the keys come back with
 * the rollback; the warehouse never holds a row they would refuse. The table is locked for writes
 * and reads until commit, which a bulk load (the first, typically) can afford.
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

/** Runs `work` with the table's plain indexes (not those behind a key) dropped, then builds them again. */
export async function withIndexesRebuilt<T>(tx: TransactionSql, table: WarehouseTableName, work: () => Promise<T>): Promise<T> {
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

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Rejects the batch when a fact row of `rows` (the incoming table, or the fact table itself after
 * a first load) references a dimension key the warehouse does not hold after the batch's
 * dimensions were applied, naming the table, the column, the key and the batch (the foreign keys
 * would refuse it too, with a less helpful message).
 */
export async function assertFactReferencesExist(tx: TransactionSql, table: WarehouseTableName, batchId: string, rows: string): Promise<void> {
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
