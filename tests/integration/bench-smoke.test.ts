import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BenchReport } from '../../scripts/bench/report';
import { seededDatabaseName } from '../../scripts/bench/source';
import { dropDatabase } from '../../scripts/local/postgres';

const ROOT = path.join(__dirname, '..', '..');
const SCALE = 0.01;

/** Only that the benchmark runs end to end and measures the rows it claims to: timings are not tested. */
describe('npm run bench', () => {
  const directory = mkdtempSync(path.join(tmpdir(), 'totesys-bench-test-'));
  const adminUrl = () => process.env.TEST_POSTGRES_URL!;

  afterAll(async () => {
    await dropDatabase(adminUrl(), seededDatabaseName(SCALE));
    rmSync(directory, { recursive: true, force: true });
  });

  it('extracts every seeded row, then only the rows the activity changed, each against its COPY baseline', async () => {
    const out = path.join(directory, 'bench.json');
    await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', '--scale', String(SCALE), '--out', out], {
      cwd: ROOT,
      env: { ...process.env, BENCH_POSTGRES_URL: adminUrl() },
      timeout: 45_000,
    });
    const report = JSON.parse(readFileSync(out, 'utf-8')) as BenchReport;

    const byStep = Object.fromEntries(report.steps.map((step) => [step.step, step]));
    expect(Object.keys(byStep)).toEqual([
      'extract (full)',
      'transform (full)',
      'load (full)',
      'extract (incremental)',
      'transform (incremental)',
      'load (incremental)',
      'verify',
    ]);
    const full = byStep['extract (full)']!;
    const incremental = byStep['extract (incremental)']!;
    expect(full.rows).toBe(report.source.totalRows);
    for (const [table, rows] of Object.entries(report.source.rows)) expect([table, full.measured.tables[table]?.rows]).toEqual([table, rows]);
    expect(full.baseline!.rows).toBe(full.rows);

    expect(incremental.rows).toBeGreaterThan(0);
    expect(incremental.rows).toBeLessThan(full.rows);
    expect(incremental.rows).toBe(report.activity.rows);
    expect(incremental.baseline!.rows).toBe(incremental.rows);
    // The activity deletes payments too: every incremental extract detects deletions.
    expect(report.activity.deleted).toBeGreaterThan(0);
    expect((incremental.measured as unknown as { deleted: number }).deleted).toBe(report.activity.deleted);

    // Transform reads what Extract wrote; Load and its baseline write the same rows.
    expect(byStep['transform (full)']!.rows).toBe(full.rows);
    expect(byStep['transform (full)']!.baseline!.rows).toBe(full.rows);
    expect(byStep['transform (incremental)']!.rows).toBe(incremental.rows);
    for (const run of ['full', 'incremental']) {
      const load = byStep[`load (${run})`]!;
      expect(load.rows).toBeGreaterThan(0);
      expect(load.baseline!.rows).toBe(load.rows);
    }

    // Verification compares every current row and finds the warehouse equal.
    const verify = byStep['verify']!;
    expect((verify.measured as unknown as { mismatchedRows: number }).mismatchedRows).toBe(0);
    expect(verify.rows).toBeGreaterThan(0);
    for (const step of report.steps) expect(step.peakRssMb).toBeGreaterThan(0);
    expect(report.machine.cpus).toBeGreaterThan(0);
  }, 60_000);
});
