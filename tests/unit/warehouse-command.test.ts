import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  connectionHelp,
  findExecutable,
  hasEmbeddedCluster,
  maskPassword,
  parseWarehouseArgs,
  psqlInvocation,
} from '../../scripts/local/warehouse-command';

describe('npm run warehouse: arguments', () => {
  it('opens the warehouse, with psql when asked', () => {
    expect(parseWarehouseArgs([])).toEqual({ action: 'open', psql: false });
    expect(parseWarehouseArgs(['--psql'])).toEqual({ action: 'open', psql: true });
  });

  it('prints its usage for --help, whatever else is given', () => {
    expect(parseWarehouseArgs(['--help'])).toEqual({ action: 'help' });
    expect(parseWarehouseArgs(['--psql', '-h'])).toEqual({ action: 'help' });
  });

  it('refuses an unknown option or an argument', () => {
    expect(parseWarehouseArgs(['--psq'])).toEqual({ action: 'usage-error', message: 'Unknown option --psq' });
    expect(parseWarehouseArgs(['--psql=yes'])).toEqual({ action: 'usage-error', message: 'Unknown option --psql=yes' });
    expect(parseWarehouseArgs(['warehouse'])).toEqual({ action: 'usage-error', message: 'Unexpected argument "warehouse"' });
  });
});

describe('npm run warehouse: passwords', () => {
  it('masks the password of a URL, and only that', () => {
    expect(maskPassword('postgres://loader:s3cret@db.example.com:5432/warehouse')).toBe('postgres://loader:***@db.example.com:5432/warehouse');
    expect(maskPassword('postgresql://loader:p%40ss@db/warehouse?sslmode=require')).toBe('postgresql://loader:***@db/warehouse?sslmode=require');
    expect(maskPassword('postgres://loader@db/warehouse')).toBe('postgres://loader@db/warehouse');
    expect(maskPassword('postgres://db:5432/warehouse')).toBe('postgres://db:5432/warehouse');
  });

  it('masks a password holding a raw @ or /, and one given as a parameter', () => {
    expect(maskPassword('postgres://loader:a@b/c@db/warehouse')).toBe('postgres://loader:***@db/warehouse');
    expect(maskPassword('postgres://loader@db/warehouse?sslmode=require&password=s3cret')).toBe('postgres://loader@db/warehouse?sslmode=require&password=***');
  });

  it('masks text that is not a valid URL without failing', () => {
    expect(maskPassword('not a url')).toBe('not a url');
    expect(maskPassword('postgres://loader:s3cret@[bad')).toBe('postgres://loader:***@[bad');
  });

  it('gives psql the password in PGPASSWORD, not on its command line', () => {
    expect(psqlInvocation('postgres://loader:p%40ss@db:5432/warehouse')).toEqual({
      args: ['postgres://loader@db:5432/warehouse'],
      env: { PGPASSWORD: 'p@ss' },
    });
    expect(psqlInvocation('postgres://loader@db/warehouse')).toEqual({ args: ['postgres://loader@db/warehouse'], env: {} });
  });
});

describe('npm run warehouse: the machine', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'warehouse-command-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('finds an executable file on PATH, in PATH order', () => {
    const [first, second, empty] = ['first', 'second', 'empty'].map((name) => path.join(root, name));
    for (const dir of [first!, second!, empty!]) mkdirSync(dir);
    writeFileSync(path.join(first!, 'psql'), 'not executable');
    mkdirSync(path.join(empty!, 'psql')); // a folder is no executable
    writeFileSync(path.join(second!, 'psql'), '#!/bin/sh\n');
    chmodSync(path.join(second!, 'psql'), 0o755);
    expect(findExecutable('psql', [first, empty].join(':'), 'linux')).toBeUndefined();
    expect(findExecutable('psql', [empty, '', second].join(':'), 'linux')).toBe(path.join(second!, 'psql'));
    expect(findExecutable('psql', '', 'linux')).toBeUndefined();
  });

  it('tells an initialised embedded cluster from a missing or empty one', () => {
    expect(hasEmbeddedCluster(root)).toBe(false);
    mkdirSync(path.join(root, 'postgres', 'data'), { recursive: true });
    expect(hasEmbeddedCluster(root)).toBe(false);
    writeFileSync(path.join(root, 'postgres', 'data', 'PG_VERSION'), '17\n');
    expect(hasEmbeddedCluster(root)).toBe(true);
  });

  it('shows how to connect and what to try', () => {
    const help = connectionHelp('postgres://postgres:postgres@127.0.0.1:5555/warehouse');
    expect(help).toContain('psql "postgres://postgres:postgres@127.0.0.1:5555/warehouse"');
    expect(help).toContain('\\dv');
    expect(help).toContain('SELECT * FROM current_sales_order LIMIT 5');
    expect(connectionHelp('postgres://loader:***@db/warehouse', '"$WAREHOUSE_DATABASE_URL"')).toContain('psql "$WAREHOUSE_DATABASE_URL" -c');
  });
});
