import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { readDatabaseTimeouts, readDatabaseTls, readExtractConfig, readLoadConfig, readTransformConfig } from '../../functions/shared/config';
import * as sharedConfig from '../../functions/shared/config';
import { METRICS, StepMetrics } from '../../functions/shared/metrics';
import { PIPELINE_FUNCTIONS, type PipelineFunctionName } from '../../functions/shared/step-contract';
import { readVerifyConfig } from '../../functions/verify/config';
import * as verifyConfig from '../../functions/verify/config';
import { functionSettings, readInfraConfig, SETTINGS } from '../../infra/config';
import { readmeWithAlert, readmeWithDiagram } from '../../state-machine/readme-diagram';
import { sampleFailureAlert } from '../../state-machine/sample-alert';

const ROOT = path.join(__dirname, '..', '..');
const text = (file: string) => readFileSync(path.join(ROOT, file), 'utf-8');
/** The README and every page of docs/, by path from the project root. */
const PAGES = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const packageJson = JSON.parse(text('package.json')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The part of `markdown` under the heading `heading` (a whole line, `## …`), up to the next heading of its level or above. */
function section(markdown: string, heading: string): string {
  const start = markdown.split('\n').findIndex((line) => line === heading);
  if (start < 0) throw new Error(`No heading "${heading}"`);
  const level = heading.indexOf(' ');
  const lines = markdown.split('\n').slice(start + 1);
  const end = lines.findIndex((line) => /^#+ /.test(line) && line.indexOf(' ') <= level);
  return (end < 0 ? lines : lines.slice(0, end)).join('\n');
}

/** The rows of the markdown tables in `markdown`, as cells (header and separator rows left out). */
function tableRows(markdown: string): string[][] {
  const rows = markdown
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) =>
      line
        .slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined)
        .split('|')
        .map((cell) => cell.trim()),
    );
  const separator = (cells: string[] | undefined) => cells !== undefined && cells.every((cell) => /^:?-+:?$/.test(cell));
  return rows.filter((cells, i) => !separator(cells) && !separator(rows[i + 1]));
}

/** The `UPPER_CASE` names in backticks in `cell`. */
const variablesIn = (cell: string) => [...cell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!);

/** An environment that records every name read from it (and answers from `values`). */
function recordingEnv(values: Record<string, string> = {}): { env: Record<string, string | undefined>; read: Set<string> } {
  const read = new Set<string>();
  const env = new Proxy({ ...values } as Record<string, string | undefined>, {
    get(target, name) {
      if (typeof name === 'string') read.add(name);
      return target[name as string];
    },
    has(target, name) {
      if (typeof name === 'string') read.add(name);
      return name in target;
    },
  });
  return { env, read };
}

describe('the README', () => {
  const readme = text('README.md');

  it('draws the state machine the definition builds (run `npm run diagram` after changing it)', () => {
    expect(readmeWithDiagram(readme)).toBe(readme);
    expect(readme).toContain('Transform --> TransformFailed: error');
  });

  it("shows the failure alert the real definition sends (run `npm run diagram` after changing it)", async () => {
    const alert = await sampleFailureAlert();
    expect(alert.subject).toBe('ToteSys pipeline failed at Load');
    expect(alert.message).toContain('{"resumeFrom":"load","upToBatchId":"0000000042"}');
    expect(readmeWithAlert(readme, alert)).toBe(readme);
  });

  it('quick start: `npm ci` installs exactly what package.json asks for (the lockfile agrees with it)', () => {
    const quickStart = section(readme, '## Quick start');
    expect(quickStart).toContain('npm ci');
    const lock = JSON.parse(text('package-lock.json')) as { packages: Record<string, { version?: string; dependencies?: object; devDependencies?: object }> };
    expect(lock.packages['']?.dependencies).toEqual(packageJson.dependencies);
    expect(lock.packages['']?.devDependencies).toEqual(packageJson.devDependencies);
    const pinned = { ...packageJson.dependencies, ...packageJson.devDependencies };
    const locked = Object.fromEntries(Object.keys(pinned).map((name) => [name, lock.packages[`node_modules/${name}`]?.version]));
    expect(locked).toEqual(pinned);
  });
});

/** Every `npm start …`, `npm test` and `npm run <script> …` the README and docs/ write, with what follows `--`. */
function npmCommands(): { page: string; script: string; args: string[] }[] {
  return PAGES.flatMap((page) =>
    [...text(page).matchAll(/npm (start|test|run ([a-z][\w-]*(?::[\w-]+)*))(?: --(?: ([^`\n#;)]*))?)?/g)].map((m) => ({
      page,
      script: m[2] ?? m[1]!,
      args: (m[3] ?? '').trim().split(/\s+/).filter(Boolean),
    })),
  );
}

/** The options (and their values) among a command's arguments, as written: `--scale 100 --reset`. */
function optionsOf(args: readonly string[]): string[] {
  return args.filter((arg, i) => arg.startsWith('--') || (i > 0 && args[i - 1]!.startsWith('--') && !arg.startsWith('-')));
}

describe('the npm commands the README and docs/ give', () => {
  const commands = npmCommands();

  it('are found (the README is read at all)', () => {
    expect(commands.filter((c) => c.page === 'README.md').map((c) => c.script)).toEqual(expect.arrayContaining(['start', 'test', 'seed', 'verify', 'rerun', 'diagram']));
  });

  it('name scripts of package.json', () => {
    const missing = commands.filter((c) => !(c.script in packageJson.scripts)).map((c) => `${c.page}: npm run ${c.script}`);
    expect(missing).toEqual([]);
  });

  /**
   * Each command is run with the options the pages give it, then two arguments no command takes:
   * its own parser (scripts/cli.ts, or the warehouse's) reads every option and stops at those, so
   * nothing runs. An option it does not know is named instead.
   */
  it('give only options the scripts accept', async () => {
    const byScript = new Map<string, string[]>();
    for (const { script, args } of commands) {
      const file = /^tsx (scripts\/[\w-]+\.ts)$/.exec(packageJson.scripts[script] ?? '')?.[1];
      const options = optionsOf(args);
      if (file && options.length > 0) byScript.set(file, [...(byScript.get(file) ?? []), ...options]);
    }
    expect([...byScript.keys()].sort()).toEqual(expect.arrayContaining(['scripts/run-local.ts', 'scripts/seed.ts', 'scripts/warehouse.ts']));
    const env: NodeJS.ProcessEnv = { ...process.env, PIPELINE_HOME: path.join(ROOT, '.no-such-pipeline-home') };
    for (const name of ['TOTESYS_DATABASE_URL', 'WAREHOUSE_DATABASE_URL', 'INGESTION_BUCKET', 'PROCESSED_BUCKET']) delete env[name];
    const results = await Promise.all(
      [...byScript].map(async ([file, options]) => {
        const args = [...options, 'readme-probe-1', 'readme-probe-2'];
        try {
          await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, file), ...args], { cwd: ROOT, env, timeout: 60_000 });
          return { file, args, code: 0, stderr: '' };
        } catch (error) {
          const failed = error as { code?: number; stderr?: string };
          const problem = (failed.stderr ?? '').split('\n').find((line) => /^(Unexpected argument|Unknown option|Option )/.test(line));
          return { file, args, code: failed.code ?? -1, stderr: problem ?? failed.stderr ?? '' };
        }
      }),
    );
    for (const result of results) expect(result).toEqual({ ...result, code: 2, stderr: expect.stringMatching(/^Unexpected argument "readme-probe-[12]"$/) });
  }, 60_000);
});

describe("the README's configuration table", () => {
  const FUNCTIONS = PIPELINE_FUNCTIONS;
  /** The variables of each row, and the functions that row says read them. */
  const rows = tableRows(section(text('README.md'), '## Configuration')).map(([variables = '', usedBy = '']) => ({
    variables: variablesIn(variables),
    usedBy: usedBy === 'all' ? [...FUNCTIONS] : usedBy.split(',').map((name) => name.trim()),
  }));

  /** What each function's configuration is read from: its reader, and the database settings when it opens a database. */
  const READERS: Readonly<Record<PipelineFunctionName, (env: Record<string, string | undefined>) => object>> = {
    extract: readExtractConfig,
    transform: readTransformConfig,
    load: readLoadConfig,
    verify: readVerifyConfig,
  };
  const SET = {
    TOTESYS_DATABASE_URL: 'postgres://u@127.0.0.1:5432/totesys',
    WAREHOUSE_DATABASE_URL: 'postgres://u@127.0.0.1:5432/warehouse',
    INGESTION_BUCKET: 'ingestion',
    PROCESSED_BUCKET: 'processed',
  };

  /** The variables each function reads: through its own code (the `env` it is given), and through Powertools (process.env). */
  const reads = Object.fromEntries(
    FUNCTIONS.map((name) => {
      const own = recordingEnv(SET);
      const library = recordingEnv(SET);
      const config = READERS[name](own.env);
      if ('totesys' in config || 'warehouse' in config) {
        readDatabaseTls(own.env);
        readDatabaseTimeouts(own.env);
      }
      const processEnv = process.env;
      process.env = library.env as NodeJS.ProcessEnv;
      try {
        new StepMetrics(name, own.env);
      } finally {
        process.env = processEnv;
      }
      return [name, { own: own.read, library: library.read }];
    }),
  ) as Record<PipelineFunctionName, { own: Set<string>; library: Set<string> }>;

  it('is read, row by row', () => {
    expect(rows.length).toBeGreaterThanOrEqual(15);
    for (const row of rows) {
      expect(row.variables.length).toBeGreaterThan(0);
      expect(FUNCTIONS).toEqual(expect.arrayContaining(row.usedBy));
    }
  });

  it('names only variables the functions read, and exactly the functions that read each row', () => {
    const described = rows.map((row) => ({
      variables: row.variables,
      usedBy: FUNCTIONS.filter((name) => row.variables.some((v) => reads[name].own.has(v) || reads[name].library.has(v))),
      unread: row.variables.filter((v) => !FUNCTIONS.some((name) => reads[name].own.has(v) || reads[name].library.has(v))),
    }));
    expect(described).toEqual(rows.map((row) => ({ variables: row.variables, usedBy: row.usedBy, unread: [] })));
  });

  it('names every variable the functions read, but those documented in docs/ and those AWS sets', () => {
    /** Set by Lambda, or the AWS SDK's own fallbacks of variables the table names. */
    const AWS_OWN = ['AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL'];
    const docs = PAGES.filter((page) => page.startsWith('docs/')).map(text).join('\n');
    const named = new Set(rows.flatMap((row) => row.variables));
    const read = new Set(FUNCTIONS.flatMap((name) => [...reads[name].own]));
    const unnamed = [...read].filter((v) => /^[A-Z][A-Z0-9_]+$/.test(v) && !named.has(v) && !AWS_OWN.includes(v)).sort();
    expect(unnamed.filter((v) => !docs.includes(`\`${v}\``))).toEqual([]);
  });

  it('covers every configuration reader of the functions', () => {
    const readers = [...Object.keys(sharedConfig), ...Object.keys(verifyConfig)].filter((name) => /^read[A-Z]/.test(name)).sort();
    // Those left out are read by the readers above (credentials, S3, the row policy) or here (TLS, timeouts).
    expect(readers).toEqual(
      [...Object.values(READERS).map((reader) => reader.name), 'readDatabaseTls', 'readDatabaseTimeouts', 'readDatabaseCredentials', 'readS3Settings', 'readRowPolicy'].sort(),
    );
  });
});

describe("docs/deploy.md's settings tables", () => {
  const FUNCTIONS = PIPELINE_FUNCTIONS;
  /** `PIPELINE_*` variable → cdktf.json context key, from every table of deploy.md that has both. */
  const documented = Object.fromEntries(
    tableRows(text('docs/deploy.md'))
      .map(([variable = '', key = '']) => [/^`(PIPELINE_[A-Z0-9_]+)`$/.exec(variable)?.[1], /^`([a-zA-Z]+)`$/.exec(key)?.[1]] as const)
      .filter(([variable, key]) => variable !== undefined && key !== undefined),
  );

  it('give every setting of infra/config.ts, with its cdktf.json key', () => {
    const settings = [...Object.values(SETTINGS), ...FUNCTIONS.flatMap((name) => Object.values(functionSettings(name)))];
    expect(documented).toEqual(Object.fromEntries(settings.map((s) => [s.env, s.context])));
  });

  it('give only settings the synth reads, from the environment and from cdktf.json', () => {
    // The state bucket is set so that the state key, region and lock table are read too.
    const env = recordingEnv({ PIPELINE_ALERT_EMAIL: 'data-team@example.com', PIPELINE_STATE_BUCKET: 'state' });
    readInfraConfig(env.env);
    expect([...env.read].filter((name) => name.startsWith('PIPELINE_')).sort()).toEqual(Object.keys(documented).sort());
    const context = new Set<string>();
    readInfraConfig({}, (key) => {
      context.add(key);
      return ({ alertEmail: 'data-team@example.com', stateBucket: 'state' } as Record<string, string>)[key];
    });
    expect([...context].sort()).toEqual(Object.values(documented).sort());
  });
});

describe("docs/deploy.md's metrics table", () => {
  it('lists every metric of functions/shared/metrics.ts, with its dimensions and unit', () => {
    const rows = tableRows(section(text('docs/deploy.md'), '## The metrics')).map(([metric = '', dimensions = '', unit = '']) => ({
      name: /^`(\w+)`$/.exec(metric)?.[1],
      dimensions: [...dimensions.matchAll(/`(\w+)`/g)].map((m) => m[1]),
      unit,
    }));
    const byName = (a: { name?: string }, b: { name?: string }) => (a.name! < b.name! ? -1 : 1);
    expect(rows.sort(byName)).toEqual(Object.values(METRICS).map(({ name, dimensions, unit }) => ({ name, dimensions: [...dimensions], unit })).sort(byName));
  });
});

describe('the links and paths of the README and docs/', () => {
  /** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
  const anchor = (heading: string) =>
    heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');

  it('link to files (and headings) that exist', () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      for (const [, target] of text(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [file = '', fragment] = target!.split('#');
        const resolved = file === '' ? page : path.join(path.dirname(page), file);
        if (!existsSync(path.join(ROOT, resolved))) broken.push(`${page}: ${target}`);
        else if (fragment !== undefined) {
          const headings = text(resolved)
            .split('\n')
            .filter((line) => /^#+ /.test(line))
            .map((line) => anchor(line.replace(/^#+ /, '')));
          if (!headings.includes(fragment)) broken.push(`${page}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('name files of the project that exist', () => {
    const missing: string[] = [];
    for (const page of PAGES) {
      const markdown = text(page);
      for (const match of markdown.matchAll(/\b(?:functions|scripts|infra|state-machine|tests|docs)\/[\w./-]*[\w/]/g)) {
        const mention = match[0];
        // A placeholder (`models/<table>.sql`, `NNN_<what>.sql`) or a pattern names no one file.
        if (/[<*]/.test(markdown[match.index + mention.length] ?? '') || mention.includes('NNN')) continue;
        if (!existsSync(path.join(ROOT, mention))) missing.push(`${page}: ${mention}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
