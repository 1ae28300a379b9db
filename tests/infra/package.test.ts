import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PIPELINE_FUNCTION_BUNDLES } from '../../infra/function-bundles';
import { buildFunctionPackage, cachedFunctionPackage, LAMBDA_LIMITS, PROJECT_ROOT, type FunctionPackage } from '../../infra/nodejs-function';
import { listFiles } from '../../infra/zip-archive';

/**
 * The transform package is built as `cdktf synth` builds it, unzipped where no node_modules
 * folder is on the path (as in Lambda's /var/task), and run in a fresh Node process: the handler
 * module loads, and DuckDB runs from the copy inside the package.
 */
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

let work: string;
let transform: FunctionPackage;
let unzipped: string;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'totesys-package-'));
  transform = buildFunctionPackage('transform', PIPELINE_FUNCTION_BUNDLES.transform, path.join(work, 'build'));
  unzipped = path.join(work, 'task');
  mkdirSync(unzipped);
  unzip(transform.zipFile, unzipped);
}, 120_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function unzip(zipFile: string, into: string): void {
  try {
    execFileSync('unzip', ['-q', zipFile, '-d', into], { stdio: 'pipe' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    // No unzip on this machine: Python's zipfile reads the archive just as independently.
    execFileSync('python3', ['-m', 'zipfile', '-e', zipFile, into], { stdio: 'pipe' });
  }
}

/** Runs `script` with Node in `dir`, with nothing inherited that could find packages elsewhere. */
function runIn(dir: string, script: string): string {
  writeFileSync(path.join(dir, 'probe.js'), script);
  try {
    return execFileSync(process.execPath, ['probe.js'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, AWS_REGION: 'eu-west-2' },
      encoding: 'utf-8',
      timeout: 60_000,
    });
  } finally {
    rmSync(path.join(dir, 'probe.js'));
  }
}

describe('the transform package', () => {
  it('is unpacked where no node_modules folder is on the path', () => {
    for (let dir = path.dirname(unzipped); ; dir = path.dirname(dir)) {
      expect(existsSync(path.join(dir, 'node_modules'))).toBe(false);
      if (path.dirname(dir) === dir) break;
    }
  });

  it('loads its handler, and runs DuckDB from the copy it ships', () => {
    const output = runIn(
      unzipped,
      `
      const { handler } = require('./index.js');
      if (typeof handler !== 'function') throw new Error('index.js exports no handler');
      const resolved = require.resolve('@duckdb/node-api');
      if (!resolved.startsWith(__dirname + '/node_modules/')) throw new Error('DuckDB resolved outside the package: ' + resolved);
      const { DuckDBInstance } = require('@duckdb/node-api');
      (async () => {
        const instance = await DuckDBInstance.create(':memory:');
        const connection = await instance.connect();
        const result = await connection.runAndReadAll('select 42 as answer');
        console.log(JSON.stringify({ rows: result.getRows() }));
      })().catch((error) => { console.error(error); process.exit(1); });
      `,
    );
    expect(JSON.parse(output.trim().split('\n').pop()!)).toEqual({ rows: [[42]] });
  });

  it('holds its SQL models next to index.js, where the code reads them', () => {
    expect(readdirSync(path.join(unzipped, 'models')).sort()).toEqual(readdirSync(path.join(PROJECT_ROOT, 'functions/transform/models')).sort());
  });

  it('ships only DuckDB, its Linux x64 binding and what they need', () => {
    expect(transform.shippedPackages).toEqual(['@duckdb/node-api', '@duckdb/node-bindings', '@duckdb/node-bindings-linux-x64', 'detect-libc']);
    const top = readdirSync(unzipped).sort();
    expect(top).toEqual(['index.js', 'index.js.map', 'models', 'node_modules']);
    expect(readdirSync(path.join(unzipped, 'node_modules', '@duckdb')).sort()).toEqual(['node-api', 'node-bindings', 'node-bindings-linux-x64']);
    expect(listFiles(unzipped).filter((f) => f.endsWith('.node'))).toEqual([path.join('node_modules', '@duckdb', 'node-bindings-linux-x64', 'duckdb.node')]);
  });

  it('fits Lambda’s limits', () => {
    console.log(`transform package: zipped ${mb(transform.zippedBytes)}, unzipped ${mb(transform.unzippedBytes)} (${transform.files} files)`);
    expect(transform.zippedBytes).toBeLessThan(LAMBDA_LIMITS.directUploadZipBytes);
    expect(transform.unzippedBytes).toBeLessThan(LAMBDA_LIMITS.unzippedBytes);
  });
});

describe('every package', () => {
  it('fits Lambda’s limits, Load ships its migrations and Verify no DuckDB', () => {
    const sizes: string[] = [];
    for (const [step, bundle] of Object.entries(PIPELINE_FUNCTION_BUNDLES)) {
      if (!existsSync(path.join(PROJECT_ROOT, bundle.entry))) {
        console.warn(`Not packaging ${step}: ${bundle.entry} does not exist yet.`);
        continue;
      }
      const pkg = cachedFunctionPackage(step, bundle);
      sizes.push(`${step}: zipped ${mb(pkg.zippedBytes)}, unzipped ${mb(pkg.unzippedBytes)}`);
      expect(pkg.zippedBytes).toBeLessThan(LAMBDA_LIMITS.directUploadZipBytes);
      expect(pkg.unzippedBytes).toBeLessThan(LAMBDA_LIMITS.unzippedBytes);
      expect(listFiles(pkg.dir)).toContain('index.js');
      if (step === 'verify') expect(pkg.shippedPackages).toEqual([]);
      if (step === 'load') {
        expect(readdirSync(path.join(pkg.dir, 'migrations')).sort()).toEqual(readdirSync(path.join(PROJECT_ROOT, 'functions/load/migrations')).sort());
      }
    }
    console.log(`Lambda packages (limits: 50 MB zipped for direct upload, 250 MB unzipped)\n${sizes.join('\n')}`);
  }, 120_000);

  it('is the same zip, byte for byte, when built again from the same sources', () => {
    const again = buildFunctionPackage('extract', PIPELINE_FUNCTION_BUNDLES.extract, path.join(work, 'again'));
    expect(again.codeSha256).toBe(cachedFunctionPackage('extract', PIPELINE_FUNCTION_BUNDLES.extract).codeSha256);
  }, 60_000);
});
