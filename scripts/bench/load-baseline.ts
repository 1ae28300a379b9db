/**
 * Bench step: the bare engine for Load. The same rows (the batch's Parquet, turned into CSV
 * beforehand, untimed) streamed with `COPY … FROM STDIN` into (logged) tables of the same columns with no
 * keys, indexes or constraints: no staging, no upsert, no reference checks, no ledger.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { createReadStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { copyIn, openDatabase } from '../../functions/shared/database';
import { WAREHOUSE_TABLES, type WarehouseTableName } from '../../functions/shared/warehouse-tables';
import { stepMain, type TableVolumes } from './step-process';

export interface LoadBaselineInput {
  readonly url: string;
  /** Folder of `<warehouse table>.parquet` files. */
  readonly directory: string;
}

const PG_TYPES = { int: 'int', date: 'date', time: 'time', 'numeric(10,2)': 'numeric(10,2)', varchar: 'varchar', boolean: 'boolean' } as const;

stepMain(async (input: LoadBaselineInput, progress): Promise<{ rows: number; tables: TableVolumes }> => {
  const files = (await readdir(input.directory)).filter((name) => name.endsWith('.parquet')).sort();
  const csvDir = path.join(input.directory, 'csv');
  await mkdir(csvDir, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const duck = await instance.connect();
  for (const file of files) {
    await duck.run(`COPY (SELECT * FROM read_parquet($1)) TO $2 (FORMAT csv, HEADER false)`, [path.join(input.directory, file), path.join(csvDir, file.replace('.parquet', '.csv'))]);
  }
  duck.closeSync();
  instance.closeSync();

  const sql = openDatabase(input.url, { max: 1 });
  const tables: TableVolumes = {};
  try {
    for (const file of files) {
      const table = file.replace('.parquet', '') as WarehouseTableName;
      const columns = WAREHOUSE_TABLES[table].columns;
      const target = `bare_${table}`;
      await sql.unsafe(`DROP TABLE IF EXISTS ${target}`);
      await sql.unsafe(`CREATE TABLE ${target} (${columns.map((c) => `"${c.name}" ${PG_TYPES[c.type]}`).join(', ')})`);
      const started = performance.now();
      await copyIn(sql, `COPY ${target} FROM STDIN WITH (FORMAT csv)`, createReadStream(path.join(csvDir, `${table}.csv`)));
      const seconds = (performance.now() - started) / 1000;
      const [{ rows }] = (await sql.unsafe(`SELECT count(*)::int AS rows FROM ${target}`)) as unknown as [{ rows: number }];
      tables[table] = { rows, bytes: 0, seconds };
      progress(`${table.padEnd(20)} ${rows.toLocaleString('en-GB').padStart(10)} rows ${seconds.toFixed(1).padStart(6)}s`);
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
  return { rows: Object.values(tables).reduce((sum, table) => sum + table.rows, 0), tables };
});
