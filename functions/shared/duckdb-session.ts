import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';

export interface DuckDbSettings {
  /** DuckDB's memory limit; beyond it, operators spill to the session's temp folder. */
  readonly memoryLimitMb: number;
  readonly threads: number;
  /** Writable space for the session's folder (Lambda: /tmp). */
  readonly workRoot: string;
}

export interface DuckDbSession {
  /** The session's own folder: downloads, outputs (`out/`) and DuckDB's spill files live under it. */
  readonly dir: string;
  run(sql: string, params?: DuckDBValue[]): Promise<void>;
  rows<T = Record<string, unknown>>(sql: string, params?: DuckDBValue[]): Promise<T[]>;
}

/**
 * A session's folder is named `totesys-duckdb-<pid>-<random>`: a process killed mid-session (a
 * local run stopped with kill -9, a crash) never removes its folder, and the name says whose it
 * was, so the next local run can remove those of processes that are gone (scripts/local/leftovers.ts).
 */
export const DUCKDB_SESSION_PREFIX = 'totesys-duckdb-';

/** The PID of the process that made session folder `name`, or undefined when `name` is not one. */
export function duckDbSessionOwner(name: string): number | undefined {
  const match = /^totesys-duckdb-(\d+)-/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * Runs `work` with an in-memory DuckDB whose home, temp and extension folders live in a fresh
 * folder under `workRoot`, with an explicit memory limit and thread count; the folder is removed
 * afterwards, whether `work` succeeded or failed, so a warm Lambda's /tmp never fills up.
 */
export async function withDuckDb<T>(settings: DuckDbSettings, work: (session: DuckDbSession) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(settings.workRoot, `${DUCKDB_SESSION_PREFIX}${process.pid}-`));
  await mkdir(path.join(dir, 'out'));
  let instance: DuckDBInstance | undefined;
  let connection: DuckDBConnection | undefined;
  try {
    instance = await DuckDBInstance.create(':memory:', {
      memory_limit: `${settings.memoryLimitMb}MB`,
      threads: String(settings.threads),
      temp_directory: path.join(dir, 'spill'),
      home_directory: dir,
      extension_directory: path.join(dir, 'extensions'),
      autoinstall_known_extensions: 'false',
      // Row order within a table is never relied on; not preserving it lets DuckDB stream with less memory.
      preserve_insertion_order: 'false',
    });
    connection = await instance.connect();
    const db = connection;
    return await work({
      dir,
      run: async (sql, params) => {
        await db.run(sql, params);
      },
      rows: async <R>(sql: string, params?: DuckDBValue[]) => (await db.runAndReadAll(sql, params)).getRowObjectsJS() as R[],
    });
  } finally {
    connection?.closeSync();
    instance?.closeSync();
    await rm(dir, { recursive: true, force: true });
  }
}
