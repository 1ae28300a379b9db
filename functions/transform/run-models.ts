import { readFileSync } from 'node:fs';
import path from 'node:path';
import { WAREHOUSE_TABLES, type WarehouseColumnType, type WarehouseTableName } from '../shared/warehouse-tables';
import type { DuckDbSession } from '../shared/duckdb-session';

/** The SQL models, one file per warehouse table, in functions/transform/models/. */
const MODELS_DIR = path.join(__dirname, 'models');

export function modelSql(table: WarehouseTableName): string {
  return readFileSync(path.join(MODELS_DIR, `${table}.sql`), 'utf-8');
}

const DUCKDB_TYPE_OF: Readonly<Record<WarehouseColumnType, string>> = {
  int: 'INTEGER',
  date: 'DATE',
  time: 'TIME',
  'numeric(10,2)': 'DECIMAL(10,2)',
  varchar: 'VARCHAR',
  boolean: 'BOOLEAN',
};

/**
 * Runs one model into the table `out_<name>` and checks that its columns are exactly the
 * warehouse contract's, in order and type, so a model edit cannot ship a wrong file. Returns its
 * row count.
 */
export async function runModel(session: DuckDbSession, table: WarehouseTableName): Promise<number> {
  await session.run(`CREATE TABLE out_${table} AS ${modelSql(table)}`);
  const described = await session.rows<{ column_name: string; column_type: string }>(`DESCRIBE out_${table}`);
  const actual = described.map((c) => `${c.column_name} ${c.column_type}`);
  const expected = WAREHOUSE_TABLES[table].columns.map((c) => `${c.name} ${DUCKDB_TYPE_OF[c.type]}`);
  if (actual.join(', ') !== expected.join(', ')) {
    throw new Error(`Model ${table}.sql produces (${actual.join(', ')}), but the warehouse contract is (${expected.join(', ')})`);
  }
  const [{ rows }] = (await session.rows<{ rows: bigint }>(`SELECT count(*) AS rows FROM out_${table}`)) as [{ rows: bigint }];
  return Number(rows);
}

/** Writes `out_<name>` as Parquet (typed: DATE, TIME with microseconds, DECIMAL(10,2)). */
export async function writeModelOutput(session: DuckDbSession, table: WarehouseTableName): Promise<string> {
  const file = path.join(session.dir, 'out', `${table}.parquet`);
  await session.run(`COPY out_${table} TO $1 (FORMAT parquet, COMPRESSION zstd)`, [file]);
  return file;
}
