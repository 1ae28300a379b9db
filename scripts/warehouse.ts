/**
 * npm run warehouse [-- --psql] [-- --help]
 *
 * Opens the warehouse of the last local run for querying: starts the embedded PostgreSQL that
 * `npm start` keeps in PIPELINE_HOME, prints a connection URL for its warehouse database and
 * serves until Ctrl-C, or, with --psql, opens psql on it and stops the server when psql exits.
 * With WAREHOUSE_DATABASE_URL set, the warehouse is that database and there is nothing to start.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { openDatabase } from '../functions/shared/database';
import { databaseUrl } from './local/postgres';
import {
  EMBEDDED_WAREHOUSE_DATABASE,
  WAREHOUSE_USAGE,
  connectionHelp,
  embeddedDataDir,
  findExecutable,
  hasEmbeddedCluster,
  maskPassword,
  parseWarehouseArgs,
  psqlInvocation,
} from './local/warehouse-command';
import type { ServerMessage } from './local/warehouse-server';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** psql while it runs: it owns Ctrl-C then (it cancels its query), other signals are passed on. */
let psqlChild: ChildProcess | undefined;
let onStopSignal: (signal: NodeJS.Signals) => void = () => {};
for (const signal of STOP_SIGNALS) {
  process.on(signal, () => {
    if (psqlChild) {
      if (signal !== 'SIGINT') psqlChild.kill(signal);
      return;
    }
    onStopSignal(signal);
  });
}
const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
  onStopSignal = resolve;
});

async function main(argv: readonly string[]): Promise<number> {
  const command = parseWarehouseArgs(argv);
  if (command.action === 'help') {
    console.log(WAREHOUSE_USAGE);
    return 0;
  }
  if (command.action === 'usage-error') {
    console.error(`${command.message}\n\n${WAREHOUSE_USAGE}`);
    return 2;
  }

  const named = process.env.WAREHOUSE_DATABASE_URL;
  if (named) {
    console.log('The warehouse is the database named by WAREHOUSE_DATABASE_URL (npm start loads it; nothing to start here):');
    console.log(connectionHelp(maskPassword(named), '"$WAREHOUSE_DATABASE_URL"'));
    await describeLoads(named);
    if (!command.psql) return 0;
    const psql = findExecutable('psql');
    if (!psql) {
      console.log('\npsql is not on PATH: connect with the client of your choice.');
      return 0;
    }
    return runPsql(psql, named);
  }

  const home = path.resolve(process.env.PIPELINE_HOME ?? '.pipeline');
  const relativeHome = path.relative(process.cwd(), home);
  const shownHome = relativeHome.startsWith('..') || path.isAbsolute(relativeHome) ? home : relativeHome || '.';
  if (!hasEmbeddedCluster(home)) {
    console.error(`No embedded warehouse in PIPELINE_HOME=${shownHome} (nothing in ${embeddedDataDir(home)}): run npm start first.`);
    return 1;
  }
  console.log(`Starting the embedded PostgreSQL in ${path.join(shownHome, 'postgres')} …`);
  const server = startServer(embeddedDataDir(home));
  const first = await Promise.race([server.ready, stopSignal.then((signal) => ({ type: 'signal' as const, signal }))]);
  if (first.type === 'signal') {
    console.log(`\n${first.signal}: stopping the embedded PostgreSQL …`);
    await server.stop();
    console.log('Stopped.');
    return 0;
  }
  if (first.type === 'failed') {
    console.error(`Could not start the embedded PostgreSQL in ${embeddedDataDir(home)}: ${first.message}`);
    console.error('Is npm start, or another npm run warehouse, using it? Only one server at a time can.');
    return 1;
  }
  if (!first.hasWarehouse) {
    await server.stop();
    console.error(`The embedded PostgreSQL in ${shownHome} has no ${EMBEDDED_WAREHOUSE_DATABASE} database yet: run npm start first.`);
    return 1;
  }

  const url = databaseUrl(first.adminUrl, EMBEDDED_WAREHOUSE_DATABASE);
  console.log(`The warehouse of PIPELINE_HOME=${shownHome} is up:`);
  console.log(connectionHelp(url));
  await describeLoads(url);

  if (command.psql) {
    const psql = findExecutable('psql');
    if (psql) {
      const code = await runPsql(psql, url);
      console.log('psql exited: stopping the embedded PostgreSQL …');
      await server.stop();
      console.log('Stopped.');
      return code;
    }
    console.log('\npsql is not on PATH: serving the warehouse for another client instead.');
  }

  console.log('\nServing until Ctrl-C.');
  const ended = await Promise.race([stopSignal.then((signal) => ({ signal })), server.exited.then(() => ({ signal: undefined }))]);
  if (!ended.signal) {
    console.error('The embedded PostgreSQL stopped unexpectedly.');
    return 1;
  }
  console.log(`\n${ended.signal}: stopping the embedded PostgreSQL …`);
  await server.stop();
  console.log('Stopped.');
  return 0;
}

interface ServerProcess {
  /** The first message: ready (or not) to serve. */
  readonly ready: Promise<Exclude<ServerMessage, { type: 'stopped' }>>;
  /** Settles when the server process has exited, whatever the reason. */
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

/** Starts the embedded server in a detached process of its own (see scripts/local/warehouse-server.ts). */
function startServer(dataDir: string): ServerProcess {
  const child = fork(path.join(__dirname, 'local', 'warehouse-server.ts'), [dataDir], {
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit').then(() => undefined);
  const ready = new Promise<Exclude<ServerMessage, { type: 'stopped' }>>((resolve) => {
    child.on('message', (message: ServerMessage) => {
      if (message.type !== 'stopped') resolve(message);
    });
    void exited.then(() => resolve({ type: 'failed', message: 'the server process exited while starting' }));
  });
  return {
    ready,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null && child.connected) child.send('stop');
      await exited;
    },
  };
}

/** Runs psql on `url` in this terminal; resolves with its exit code. */
async function runPsql(psql: string, url: string): Promise<number> {
  const { args, env } = psqlInvocation(url);
  console.log(`\nOpening psql (\\q to quit) …`);
  const child = spawn(psql, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  psqlChild = child;
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    return code ?? (signal ? 1 : 0);
  } finally {
    psqlChild = undefined;
  }
}

/** One line on what the warehouse holds: the batches loaded, from its load ledger. */
async function describeLoads(url: string): Promise<void> {
  const sql = openDatabase(url, { max: 1, connect_timeout: 5 });
  try {
    const [found] = await sql<{ ledger: string | null }[]>`
      SELECT coalesce(to_regclass('pipeline.load_ledger'), to_regclass('pipeline_load_ledger'))::text AS ledger`;
    if (!found?.ledger) {
      console.log('\nNo batch is loaded yet (the warehouse has no load ledger): npm start loads one.');
      return;
    }
    const [loads] = await sql.unsafe<{ batches: number; latest: string | null; loaded_at: Date | null }[]>(
      `SELECT count(*)::int AS batches, max(batch_id) AS latest, max(loaded_at) AS loaded_at FROM ${found.ledger}`,
    );
    if (!loads || loads.batches === 0) console.log('\nNo batch is loaded yet: npm start loads one.');
    else console.log(`\nLoaded: ${loads.batches} batch${loads.batches === 1 ? '' : 'es'}, the latest ${loads.latest} at ${loads.loaded_at?.toISOString()}.`);
  } catch (error) {
    console.log(`\n(Could not read the load ledger: ${error instanceof Error ? error.message : String(error)})`);
  } finally {
    await sql.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`npm run warehouse failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
