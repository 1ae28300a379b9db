/**
 * npm run seed -- [--scale N | --sample] [--reset] [--activity N] [--seed S]
 *
 * Builds a ToteSys to run the pipeline against, in the database named by TOTESYS_DATABASE_URL, or,
 * when that is not set, in the embedded PostgreSQL that `npm start` keeps in PIPELINE_HOME:
 *   --scale N     create the schema and seed it (1 = about the real database; 100 = 1.3M sales orders)
 *   --sample      create the schema and load the real-data sample from tests/fixtures/totesys-sample
 *   --reset       drop existing ToteSys tables first (otherwise an existing schema is refused)
 *   --activity N  then perform N application writes (new orders, amendments, payments, renames...)
 *   --seed S      random seed (an integer; the same seed and scale give the same rows)
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { Sql } from 'postgres';
import { openDatabase } from '../functions/shared/database';
import { readCommandLine } from './cli';
import { ensureDatabase, startEmbeddedPostgres } from './local/postgres';
import { applyActivity } from './totesys/activity';
import { DEFAULT_SEED, seedTotesys, type SeedProgress } from './totesys/generate';
import { loadSample } from './totesys/sample';
import { TOTESYS_TABLE_NAMES } from '../functions/shared/totesys-tables';
import { createTotesysSchema, dropTotesysSchema, existingTotesysTables } from './totesys/schema';

const SAMPLE_DIR = path.join(__dirname, '..', 'tests', 'fixtures', 'totesys-sample');
const URL_VARIABLE = 'TOTESYS_DATABASE_URL';

const USAGE = `npm run seed -- [--scale N | --sample] [--reset] [--activity N] [--seed S]

Builds a ToteSys to run the pipeline against, in the database named by TOTESYS_DATABASE_URL, or,
when that is not set, in the embedded PostgreSQL that npm start keeps in PIPELINE_HOME.

  --scale N     create the schema and seed it (1 = about the real database; 100 = 1.3M sales orders)
  --sample      create the schema and load the real-data sample from tests/fixtures/totesys-sample
  --reset       drop existing ToteSys tables first (otherwise an existing schema is refused)
  --activity N  then perform N application writes (new orders, amendments, payments, renames...)
  --seed S      random seed (an integer; the same seed and scale give the same rows)
  --help`;

/** A mistake in the command line: printed with the usage. */
class UsageError extends Error {}

interface Command {
  scale?: number;
  sample: boolean;
  reset: boolean;
  activity?: number;
  seed: number;
}

function parseCommand(values: { scale?: string; sample?: boolean; reset?: boolean; activity?: string; seed?: string }): Command {
  const command: Command = {
    scale: values.scale === undefined ? undefined : positiveNumber('--scale', values.scale),
    sample: values.sample ?? false,
    reset: values.reset ?? false,
    activity: values.activity === undefined ? undefined : wholeNumber('--activity', values.activity),
    seed: values.seed === undefined ? DEFAULT_SEED : integer('--seed', values.seed),
  };
  if (command.scale !== undefined && command.sample) throw new UsageError('choose one of --scale and --sample');
  if (command.scale === undefined && !command.sample && command.activity === undefined) {
    throw new UsageError('nothing to do: pass --scale N, --sample or --activity N');
  }
  if (command.reset && command.scale === undefined && !command.sample) throw new UsageError('--reset goes with --scale or --sample');
  return command;
}

function positiveNumber(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new UsageError(`${flag} must be a positive number, got "${text}"`);
  return value;
}

function wholeNumber(flag: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) throw new UsageError(`${flag} must be a whole number, got "${text}"`);
  return value;
}

function integer(flag: string, text: string): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) throw new UsageError(`${flag} must be an integer, got "${text}"`);
  return value;
}

function databaseUrl(text: string | undefined): URL {
  if (!text) throw new Error(`${URL_VARIABLE} is not set: set it to the ToteSys database, e.g. postgres://user:password@127.0.0.1:5432/totesys`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${URL_VARIABLE} is not a URL: expected postgres://user:password@host:port/database`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(`${URL_VARIABLE} must be a postgres:// URL, got a ${url.protocol}// one`);
  }
  return url;
}

/** The URL as safe to print: without its password. */
function displayUrl(url: URL): string {
  const shown = new URL(url.toString());
  if (shown.password) shown.password = '***';
  return shown.toString();
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const count = (n: number) => n.toLocaleString('en-GB');

/** Reports each table when done, and a long table's progress every few seconds. */
function progressPrinter(): (progress: SeedProgress) => void {
  let lastPrinted = 0;
  return (progress) => {
    if (!progress.done && progress.elapsedMs - lastPrinted < 3_000) return;
    lastPrinted = progress.elapsedMs;
    const state = progress.done ? '' : ' ...';
    console.log(`  ${progress.table.padEnd(15)} ${count(progress.rows).padStart(10)} rows  ${seconds(progress.elapsedMs).padStart(7)}${state}`);
  };
}

async function prepareSchema(sql: Sql, reset: boolean): Promise<void> {
  const existing = await existingTotesysTables(sql);
  if (existing.length > 0) {
    if (!reset) throw new Error(`ToteSys tables already exist (${existing.join(', ')}): pass --reset to drop and recreate them`);
    console.log('Dropping the existing ToteSys schema');
    await dropTotesysSchema(sql);
  }
  await createTotesysSchema(sql);
}

async function run(command: Command, sql: Sql): Promise<void> {
  const started = performance.now();
  let totalRows = 0;
  const done: string[] = [];

  if (command.scale !== undefined) {
    await prepareSchema(sql, command.reset);
    console.log(`Seeding at scale ${command.scale} with seed ${command.seed}`);
    const result = await seedTotesys(sql, { scale: command.scale, seed: command.seed, onProgress: progressPrinter() });
    totalRows += result.totalRows;
    done.push(`seeded ${count(result.totalRows)} rows into ${TOTESYS_TABLE_NAMES.length} tables (scale ${command.scale}, seed ${command.seed})`);
  } else if (command.sample) {
    await prepareSchema(sql, command.reset);
    const loaded = await loadSample(sql, SAMPLE_DIR);
    const rows = Object.values(loaded).reduce((sum, n) => sum + n, 0);
    for (const [table, n] of Object.entries(loaded)) console.log(`  ${table.padEnd(15)} ${count(n).padStart(10)} rows`);
    totalRows += rows;
    done.push(`loaded the sample: ${count(rows)} rows`);
  }

  if (command.activity !== undefined) {
    if ((await existingTotesysTables(sql)).length === 0) throw new Error('there is no ToteSys schema to write to: seed one first with --scale N or --sample');
    const activityStarted = performance.now();
    const summary = await applyActivity(sql, { writes: command.activity, seed: command.seed });
    const kinds = Object.entries(summary.byKind)
      .filter(([, n]) => n > 0)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ');
    console.log(`  ${kinds}`);
    const inserted = Object.values(summary.inserted).reduce((sum, n) => sum + n, 0);
    const updated = Object.values(summary.updated).reduce((sum, n) => sum + n, 0);
    totalRows += inserted + updated;
    done.push(`applied ${count(summary.writes)} writes (${count(inserted)} rows inserted, ${count(updated)} updated) in ${seconds(performance.now() - activityStarted)}`);
  }

  console.log(`Done: ${done.join('; ')}. ${count(totalRows)} rows written in ${seconds(performance.now() - started)}.`);
}

async function main(): Promise<number> {
  const line = readCommandLine(process.argv.slice(2), {
    usage: USAGE,
    options: { scale: { type: 'string' }, sample: { type: 'boolean' }, reset: { type: 'boolean' }, activity: { type: 'string' }, seed: { type: 'string' } },
  });
  if (typeof line === 'number') return line;
  let command: Command;
  try {
    command = parseCommand(line.values);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  const local = process.env[URL_VARIABLE] ? undefined : await localTotesys();
  try {
    const url = databaseUrl(process.env[URL_VARIABLE] ?? local?.url);
    console.log(`ToteSys at ${displayUrl(url)}${local ? ` (the embedded server in ${local.home})` : ''}`);
    const sql = openDatabase(url.toString(), { max: 2 });
    try {
      await run(command, sql);
    } finally {
      await sql.end();
    }
  } finally {
    await local?.stop();
  }
  return 0;
}

/** The ToteSys of `npm start`'s embedded server, when it has one. */
async function localTotesys(): Promise<{ url: string; home: string; stop: () => Promise<void> } | undefined> {
  const home = path.resolve(process.env.PIPELINE_HOME ?? '.pipeline');
  const dataDir = path.join(home, 'postgres', 'data');
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) return undefined;
  const server = await startEmbeddedPostgres(dataDir, undefined, { note: (message) => console.log(message) });
  const { url } = await ensureDatabase(server.adminUrl, 'totesys');
  return { url, home, stop: () => server.stop() };
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`seed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
