import type { TransactionSql } from 'postgres';
import { BadInputError } from '../shared/errors';
import { WAREHOUSE_TABLES, type WarehouseTableName } from '../shared/warehouse-tables';

/**
 * Applies `stage_<table>` to the warehouse table, set-based: dimensions are upserted on their
 * natural key (type 1: latest values win; rows whose values did not change are not rewritten),
 * fact versions are appended, a version already present being skipped (its unique key is the
 * source key and last_updated). Returns the rows written.
 */
export async function applyStagedTable(tx: TransactionSql, table: WarehouseTableName): Promise<number> {
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
  const result = await tx.unsafe(
    `INSERT INTO ${table} (${columns}) SELECT ${columns} FROM stage_${table}
     ON CONFLICT ("${definition.sourceKey}", last_updated_date, last_updated_time) DO NOTHING`,
  );
  return result.count;
}

/**
 * Rejects the batch when a staged fact references a dimension key the warehouse does not hold
 * after the batch's dimensions were applied, naming the table, the column, the key and the batch
 * (the foreign keys would refuse it too, with a less helpful message).
 */
export async function assertFactReferencesExist(tx: TransactionSql, table: WarehouseTableName, batchId: string): Promise<void> {
  for (const column of WAREHOUSE_TABLES[table].columns) {
    if (!column.references) continue;
    const dimension = WAREHOUSE_TABLES[column.references];
    const [dangling] = await tx.unsafe<{ key: string }[]>(
      `SELECT s."${column.name}"::text AS key FROM stage_${table} s
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
