import path from 'node:path';
import postgres, { type Sql } from 'postgres';
import { createDatabase, databaseUrl, dropDatabase, ensureDatabase, startEmbeddedPostgres } from '../local/postgres';
import { DEFAULT_SEED, seedTotesys, type SeedProgress } from '../totesys/generate';
import { TOTESYS_TABLE_NAMES, type TotesysTableName } from '../../functions/shared/totesys-tables';
import { createTotesysSchema } from '../totesys/schema';

/**
 * The ToteSys the bench reads. Seeding scale 100 takes about half a minute, so a seeded database
 * (`bench_totesys_s<scale>`) is kept between runs, and each run works on a copy of it: the
 * activity a run applies would otherwise pile up run after run, and two runs of the same code
 * would not read the same rows.
 */

export interface BenchServer {
  /** URL of the server's maintenance database. */
  readonly adminUrl: string;
  /** Where it is, safe to print. */
  readonly description: string;
  stop(): Promise<void>;
}

export type RowCounts = Record<TotesysTableName, number>;

const EMBEDDED_DATA_DIR = path.join(__dirname, '..', '..', '.pipeline', 'bench', 'pg');

export async function openBenchServer(log: (line: string) => void): Promise<BenchServer> {
  const named = process.env.BENCH_POSTGRES_URL || process.env.TEST_POSTGRES_URL;
  if (named) return { adminUrl: named, description: withoutPassword(named), stop: async () => {} };
  log(`BENCH_POSTGRES_URL and TEST_POSTGRES_URL are not set: starting embedded PostgreSQL in ${path.relative(process.cwd(), EMBEDDED_DATA_DIR)}`);
  const server = await startEmbeddedPostgres(EMBEDDED_DATA_DIR);
  return { adminUrl: server.adminUrl, description: `embedded, ${withoutPassword(server.adminUrl)}`, stop: () => server.stop() };
}

export function seededDatabaseName(scale: number): string {
  return `bench_totesys_s${String(scale).replace(/[^0-9a-z]/gi, '_').toLowerCase()}`;
}

export interface SeededDatabase {
  readonly name: string;
  readonly rows: RowCounts;
  /** False when an earlier run's seed was reused. */
  readonly seededNow: boolean;
}

/** The seeded database for `scale`: reused when it holds exactly what a seed at that scale wrote, else (re)seeded. */
export async function ensureSeededDatabase(adminUrl: string, scale: number, onProgress: (progress: SeedProgress) => void): Promise<SeededDatabase> {
  const name = seededDatabaseName(scale);
  const { url, created } = await ensureDatabase(adminUrl, name);
  if (!created) {
    const rows = await withSql(url, (sql) => reusableSeed(sql, scale));
    if (rows) return { name, rows, seededNow: false };
    // Whatever is there (an interrupted seed, another scale, changed rows) goes with the database.
    await createDatabase(adminUrl, name);
  }
  const rows = await withSql(url, async (sql) => {
    await createTotesysSchema(sql);
    const seeded = await seedTotesys(sql, { scale, seed: DEFAULT_SEED, onProgress });
    await sql`CREATE TABLE bench_meta (scale double precision NOT NULL, seed integer NOT NULL, row_counts jsonb NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now())`;
    await sql`INSERT INTO bench_meta (scale, seed, row_counts) VALUES (${scale}, ${DEFAULT_SEED}, ${sql.json(seeded.rows)})`;
    // Sets every row's hint bits now: otherwise the first step to read a table pays for writing them.
    await sql`VACUUM (ANALYZE)`;
    return seeded.rows;
  });
  return { name, rows, seededNow: true };
}

async function reusableSeed(sql: Sql, scale: number): Promise<RowCounts | undefined> {
  const [table] = await sql`SELECT to_regclass('bench_meta') IS NOT NULL AS present`;
  if (!table?.present) return undefined;
  const [meta] = await sql<{ scale: number; seed: number; row_counts: RowCounts }[]>`SELECT scale, seed, row_counts FROM bench_meta`;
  if (!meta || meta.scale !== scale || meta.seed !== DEFAULT_SEED) return undefined;
  const now = await countRows(sql);
  return TOTESYS_TABLE_NAMES.every((t) => now[t] === meta.row_counts[t]) ? now : undefined;
}

/** Reads every table once, which also leaves it in the OS cache for the first measured step. */
export async function countRows(sql: Sql): Promise<RowCounts> {
  const counts = {} as RowCounts;
  for (const table of TOTESYS_TABLE_NAMES) {
    const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ${sql(table)}`;
    counts[table] = row!.n;
  }
  return counts;
}

/** A throwaway copy of the seeded database for one run; returns its URL and how to drop it. */
export async function copyForRun(adminUrl: string, template: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${template}_run_${process.pid}`;
  await withSql(adminUrl, async (sql) => {
    // Copies left by runs that were killed: each is as large as the seeded database.
    const prefix = `${template}_run_`;
    const copies = await sql<{ name: string }[]>`SELECT datname AS name FROM pg_database WHERE starts_with(datname, ${prefix})`;
    for (const { name: copy } of copies) {
      const pid = copy.slice(prefix.length);
      if (/^\d+$/.test(pid) && !isRunning(Number(pid))) await sql.unsafe(`DROP DATABASE IF EXISTS "${copy}" WITH (FORCE)`);
    }
    const [server] = await sql<{ version: number }[]>`SELECT current_setting('server_version_num')::int AS version`;
    // PostgreSQL 15's default, WAL_LOG, writes the whole copy into the WAL (700 MB at scale 100), to
    // be checkpointed later, perhaps during a measured step. FILE_COPY checkpoints before returning.
    const strategy = server!.version >= 150000 ? ' STRATEGY FILE_COPY' : '';
    await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await sql.unsafe(`CREATE DATABASE "${name}" TEMPLATE "${template}"${strategy}`);
  });
  return { name, url: databaseUrl(adminUrl, name), drop: () => dropDatabase(adminUrl, name) };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function withSql<T>(url: string, work: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await work(sql);
  } finally {
    await sql.end();
  }
}

export function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
