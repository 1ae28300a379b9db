import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Sql } from 'postgres';
import { TOTESYS_INSERT_ORDER, type TotesysTableName } from '../../functions/shared/totesys-tables';
import { syncSequences } from './schema';

type SampleRow = Record<string, string | number | boolean | null>;

/**
 * Loads the real-data sample (one `<table>.jsonl` per table, one row object per line, as the
 * fixtures folder holds it) into an existing, empty ToteSys schema, all or nothing, with the rows'
 * own ids; then points the sequences past them. Returns the rows loaded per table.
 */
export async function loadSample(sql: Sql, dir: string): Promise<Record<TotesysTableName, number>> {
  const tables = await Promise.all(TOTESYS_INSERT_ORDER.map(async (table) => [table, await readRows(dir, table)] as const));
  const loaded = {} as Record<TotesysTableName, number>;
  await sql.begin(async (tx) => {
    for (const [table, rows] of tables) {
      loaded[table] = rows.length;
      if (rows.length === 0) continue;
      const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
      // One parameterised multi-row insert per table: the sample is a few dozen rows.
      await tx`INSERT INTO ${tx(table)} ${tx(rows, columns)}`;
    }
    await syncSequences(tx);
  });
  return loaded;
}

async function readRows(dir: string, table: TotesysTableName): Promise<SampleRow[]> {
  const file = path.join(dir, `${table}.jsonl`);
  const text = await readFile(file, 'utf-8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as SampleRow;
      } catch (error) {
        throw new Error(`${file} line ${i + 1} is not JSON: ${(error as Error).message}`);
      }
    });
}
