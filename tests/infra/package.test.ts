import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PIPELINE_FUNCTION_BUNDLES } from '../../infra/function-bundles';
import { buildFunctionPackage, cachedFunctionPackage, LAMBDA_LIMITS, PROJECT_ROOT, type FunctionPackage } from '../../infra/nodejs-function';
import { listFiles, writeZipArchive } from '../../infra/zip-archive';

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

interface ArchiveEntry {
  readonly name: string;
  /** Permission bits, as the archive's Unix attributes give them. */
  readonly mode: number;
  /** `YYYYMMDD.hhmmss`, the DOS timestamp. */
  readonly modified: string;
  readonly method: 'stored' | 'deflated';
}

/** The archive's entries in their order, as a reader other than fflate sees them: zipinfo, or Python's zipfile. */
function archiveEntries(zipFile: string): ArchiveEntry[] {
  try {
    const listing = execFileSync('unzip', ['-Z', '-T', zipFile], { encoding: 'utf-8' });
    return listing
      .split('\n')
      .map((line) => /^-([rwx-]{9})\s+\S+\s+unx\s+\d+\s+\S+\s+(stor|defN)\s+(\d{8}\.\d{6})\s(.+)$/.exec(line))
      .filter((match) => match !== null)
      .map(([, permissions, method, modified, name]) => ({
        name: name!,
        mode: [...permissions!].reduce((bits, char) => (bits << 1) | (char === '-' ? 0 : 1), 0),
        modified: modified!,
        method: method === 'stor' ? 'stored' : 'deflated',
      }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const script =
      'import json, sys, zipfile\n' +
      'print(json.dumps([{"name": i.filename, "mode": (i.external_attr >> 16) & 0o777, "modified": "%04d%02d%02d.%02d%02d%02d" % i.date_time,' +
      ' "method": "stored" if i.compress_type == 0 else "deflated"} for i in zipfile.ZipFile(sys.argv[1]).infolist()]))';
    return JSON.parse(execFileSync('python3', ['-c', script, zipFile], { encoding: 'utf-8' })) as ArchiveEntry[];
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

  it('unzips to exactly the files of its folder, byte for byte, in sorted order', () => {
    const files = listFiles(transform.dir);
    expect(listFiles(unzipped)).toEqual(files);
    expect(archiveEntries(transform.zipFile).map((entry) => entry.name)).toEqual(files.map((file) => file.split(path.sep).join('/')));
    const differing = files.filter((file) => !readFileSync(path.join(unzipped, file)).equals(readFileSync(path.join(transform.dir, file))));
    expect(differing).toEqual([]);
    expect(transform.files).toBe(files.length);
    expect(transform.unzippedBytes).toBe(files.reduce((sum, file) => sum + statSync(path.join(transform.dir, file)).size, 0));
    expect(transform.zippedBytes).toBe(statSync(transform.zipFile).size);
    expect(transform.codeSha256).toBe(createHash('sha256').update(readFileSync(transform.zipFile)).digest('base64'));
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

describe('writeZipArchive', () => {
  const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
  const incompressible = randomBytes(64 * 1024);

  /** The same files, written in a different order and with other timestamps each time. */
  function folder(name: string, order: 'forward' | 'backward', mtime: Date): string {
    const dir = path.join(work, name);
    const files: [string, Buffer | string, number][] = [
      ['a.txt', 'the same line again\n'.repeat(500), 0o644],
      ['B-upper.txt', 'sorts before a.txt: by code unit, upper case first\n', 0o644],
      ['bin/run.sh', `#!/bin/sh\n${'echo run\n'.repeat(20)}`, 0o755],
      ['empty', '', 0o600],
      ['random.bin', incompressible, 0o644],
      ['z/nested/deep.json', JSON.stringify({ deep: true }), 0o644],
    ];
    for (const [file, content, mode] of order === 'forward' ? files : [...files].reverse()) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), content);
      chmodSync(path.join(dir, file), mode);
      utimesSync(path.join(dir, file), mtime, mtime);
    }
    return dir;
  }

  it('writes the same bytes for the same files, whatever their timestamps and creation order', () => {
    const first = folder('zip-first', 'forward', new Date('2031-05-06T07:08:09Z'));
    const second = folder('zip-second', 'backward', new Date('2024-12-31T23:59:59Z'));
    const a = writeZipArchive(first, path.join(work, 'first.zip'));
    const b = writeZipArchive(second, path.join(work, 'second.zip'));
    expect(readFileSync(path.join(work, 'second.zip')).equals(readFileSync(path.join(work, 'first.zip')))).toBe(true);
    expect(b).toEqual(a);
    const sizes = listFiles(first).map((file) => statSync(path.join(first, file)).size);
    expect(a).toEqual({ files: 6, unzippedBytes: sizes.reduce((sum, size) => sum + size, 0), zippedBytes: statSync(path.join(work, 'first.zip')).size });
  });

  it('lists the entries sorted, dated 1980-01-01 00:00, with their permissions, and stores what deflate cannot shrink (random bytes, short texts)', () => {
    const dir = folder('zip-listed', 'backward', new Date());
    writeZipArchive(dir, path.join(work, 'listed.zip'));
    expect(archiveEntries(path.join(work, 'listed.zip'))).toEqual([
      { name: 'B-upper.txt', mode: 0o644, modified: '19800101.000000', method: 'stored' },
      { name: 'a.txt', mode: 0o644, modified: '19800101.000000', method: 'deflated' },
      { name: 'bin/run.sh', mode: 0o755, modified: '19800101.000000', method: 'deflated' },
      { name: 'empty', mode: 0o600, modified: '19800101.000000', method: 'stored' },
      { name: 'random.bin', mode: 0o644, modified: '19800101.000000', method: 'stored' },
      { name: 'z/nested/deep.json', mode: 0o644, modified: '19800101.000000', method: 'stored' },
    ]);
  });

  it('unzips to the files it was given, byte for byte', () => {
    const dir = folder('zip-source', 'forward', new Date());
    writeZipArchive(dir, path.join(work, 'source.zip'));
    const into = path.join(work, 'zip-unpacked');
    mkdirSync(into);
    unzip(path.join(work, 'source.zip'), into);
    expect(listFiles(into)).toEqual(listFiles(dir));
    for (const file of listFiles(dir)) expect(readFileSync(path.join(into, file)).equals(readFileSync(path.join(dir, file)))).toBe(true);
  });

  it('changes its bytes when one byte of one file changes', () => {
    const dir = folder('zip-changed', 'forward', new Date());
    writeZipArchive(dir, path.join(work, 'before.zip'));
    writeFileSync(path.join(dir, 'z/nested/deep.json'), JSON.stringify({ deep: null }));
    writeZipArchive(dir, path.join(work, 'after.zip'));
    expect(sha256(path.join(work, 'after.zip'))).not.toBe(sha256(path.join(work, 'before.zip')));
  });
});
