import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ISql, Sql } from 'postgres';
import { TOTESYS_ENUM_LABELS, TOTESYS_INSERT_ORDER, TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type TotesysTableName } from '../../functions/shared/totesys-tables';

/** The enum types' names: TOTESYS_ENUM_LABELS holds them as format_type prints them, quoted. */
const TOTESYS_ENUM_TYPES = Object.keys(TOTESYS_ENUM_LABELS).map((quoted) => quoted.slice(1, -1));

const SCHEMA_FILE = path.join(__dirname, 'schema.sql');

/** Creates the ToteSys tables and enum types, all or nothing. */
export async function createTotesysSchema(sql: Sql): Promise<void> {
  const ddl = await readFile(SCHEMA_FILE, 'utf-8');
  // Several statements in one string need the simple query protocol.
  await sql.begin((tx) => tx.unsafe(ddl).simple());
}

/** Drops the ToteSys tables and enum types, those that exist. */
export async function dropTotesysSchema(sql: Sql): Promise<void> {
  const tables = [...TOTESYS_INSERT_ORDER].reverse();
  await sql.begin(async (tx) => {
    await tx`DROP TABLE IF EXISTS ${tx(tables)}`;
    await tx`DROP TYPE IF EXISTS ${tx(TOTESYS_ENUM_TYPES)}`;
  });
}

/** The ToteSys tables that exist in the connection's current schema. */
export async function existingTotesysTables(sql: ISql): Promise<TotesysTableName[]> {
  const rows = await sql<{ name: TotesysTableName }[]>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_name IN ${sql([...TOTESYS_TABLE_NAMES])}`;
  const found = new Set(rows.map((row) => row.name));
  return TOTESYS_TABLE_NAMES.filter((table) => found.has(table));
}

/**
 * Points every serial sequence at its table's highest id, so the application's next insert
 * (which leaves the id to the sequence) does not collide with rows loaded with explicit ids.
 */
export async function syncSequences(sql: ISql): Promise<void> {
  for (const table of TOTESYS_TABLE_NAMES) {
    const key = TOTESYS_TABLES[table].primaryKey;
    // The table name is parsed as an identifier there: quoted, as `transaction` is a keyword.
    // An empty table resets its sequence so that the next id is 1.
    await sql`
      SELECT setval(pg_get_serial_sequence(${`"${table}"`}, ${key}), coalesce(max(${sql(key)}), 1), max(${sql(key)}) IS NOT NULL)
      FROM ${sql(table)}`;
  }
}
