/**
 * Bench step: the bare engine for Transform. The same JSONL objects, already on local disk, each
 * turned into Parquet by one DuckDB statement, `COPY (SELECT * FROM read_json(…)) TO '….parquet'`,
 * with the same memory limit and threads: no validation, no models, no state, no upload.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { stepMain, type TableVolumes } from './step-process';

export interface TransformBaselineInput {
  /** Folder of `<table>.jsonl.gz` files. */
  readonly directory: string;
  readonly memoryLimitMb: number;
  readonly threads: number;
}

stepMain(async (input: TransformBaselineInput, progress): Promise<{ rows: number; tables: TableVolumes }> => {
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: `${input.memoryLimitMb}MB`,
    threads: String(input.threads),
    temp_directory: path.join(input.directory, 'spill'),
    preserve_insertion_order: 'false',
  });
  const connection = await instance.connect();
  const out = path.join(input.directory, 'parquet');
  await mkdir(out, { recursive: true });
  const tables: TableVolumes = {};
  try {
    for (const file of (await readdir(input.directory)).filter((name) => name.endsWith('.jsonl.gz')).sort()) {
      const table = file.replace('.jsonl.gz', '');
      const started = performance.now();
      const result = await connection.run(`COPY (SELECT * FROM read_json($1, format = 'newline_delimited')) TO $2 (FORMAT parquet, COMPRESSION zstd)`, [
        path.join(input.directory, file),
        path.join(out, `${table}.parquet`),
      ]);
      const rows = Number(result.rowsChanged);
      const seconds = (performance.now() - started) / 1000;
      tables[table] = { rows, bytes: 0, seconds };
      progress(`${table.padEnd(15)} ${rows.toLocaleString('en-GB').padStart(10)} rows ${seconds.toFixed(1).padStart(6)}s`);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  return { rows: Object.values(tables).reduce((sum, table) => sum + table.rows, 0), tables };
});
