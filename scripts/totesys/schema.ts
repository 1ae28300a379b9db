import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ISql, Sql } from 'postgres';
import { TOTESYS_TABLES, type TotesysTableName } from '../../functions/shared/totesys-tables';

/** The ToteSys tables in an order that inserts safely: every table after the tables it references. */
export const TOTESYS_TABLES_IN_INSERT_ORDER = [
  'address',
  'department',
  'currency',
  'design',
  'payment_type',
  'counterparty',
  'staff',
  'sales_order',
  'purchase_order',
  'transaction',
  'payment',
] as const satisfies readonly TotesysTableName[];

export type TotesysTable = TotesysTableName;

export const TOTESYS_ENUM_TYPES = ['PaymentTypeName', 'TransactionType'] as const;

const SCHEMA_FILE = path.join(__dirname, 'schema.sql');

/** Creates the ToteSys tables and enum types, all or nothing. */
export async function createTotesysSchema(sql: Sql): Promise<void> {
  const ddl = await readFile(SCHEMA_FILE, 'utf-8');
  // Several statements in one string need the simple query protocol.
  await sql.begin((tx) => tx.unsafe(ddl).simple());
}

/** Drops the ToteSys tables and enum types, those that exist. */
export async function dropTotesysSchema(sql: Sql): Promise<void> {
  const tables = [...TOTESYS_TABLES_IN_INSERT_ORDER].reverse();
  await sql.begin(async (tx) => {
    await tx`DROP TABLE IF EXISTS ${tx(tables)}`;
    await tx`DROP TYPE IF EXISTS ${tx([...TOTESYS_ENUM_TYPES])}`;
  });
}

/** The ToteSys tables that exist in the connection's current schema. */
export async function existingTotesysTables(sql: ISql): Promise<TotesysTable[]> {
  const rows = await sql<{ name: TotesysTable }[]>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_name IN ${sql([...TOTESYS_TABLES_IN_INSERT_ORDER])}`;
  const found = new Set(rows.map((row) => row.name));
  return TOTESYS_TABLES_IN_INSERT_ORDER.filter((table) => found.has(table));
}

/**
 * Points every serial sequence at its table's highest id, so the application's next insert
 * (which leaves the id to the sequence) does not collide with rows loaded with explicit ids.
 */
export async function syncSequences(sql: ISql): Promise<void> {
  for (const table of TOTESYS_TABLES_IN_INSERT_ORDER) {
    const key = TOTESYS_TABLES[table].primaryKey;
    // The table name is parsed as an identifier there: quoted, as `transaction` is a keyword.
    // An empty table resets its sequence so that the next id is 1.
    await sql`
      SELECT setval(pg_get_serial_sequence(${`"${table}"`}, ${key}), coalesce(max(${sql(key)}), 1), max(${sql(key)}) IS NOT NULL)
      FROM ${sql(table)}`;
  }
}
