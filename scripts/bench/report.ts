import os from 'node:os';
import type { ActivityOutput } from './activity';
import type { StepMeasurement, TableVolumes } from './step-process';

/** What a step process or its baseline reports: rows in all, per table, and its measurements. */
export type Measured = StepMeasurement & { readonly rows: number; readonly tables: TableVolumes };

/**
 * One row of the results: a pipeline step against the bare-engine baseline for the same rows.
 * Transform and Load will be more rows of the same table.
 */
export interface StepRow {
  readonly step: string;
  readonly rows: number;
  readonly seconds: number;
  readonly rowsPerSecond: number;
  readonly baselineSeconds: number | null;
  /** seconds / baselineSeconds: how many times slower than the bare engine. */
  readonly ratioToBaseline: number | null;
  readonly peakRssMb: number;
  readonly baselinePeakRssMb: number | null;
  /** What the step and its baseline processes reported, per table included. */
  readonly measured: Measured;
  readonly baseline: Measured | null;
}

export function stepRow(step: string, measured: Measured, baseline: Measured | null): StepRow {
  return {
    step,
    rows: measured.rows,
    seconds: measured.seconds,
    rowsPerSecond: measured.rows / measured.seconds,
    baselineSeconds: baseline?.seconds ?? null,
    ratioToBaseline: baseline ? measured.seconds / baseline.seconds : null,
    peakRssMb: measured.peakRssMb,
    baselinePeakRssMb: baseline?.peakRssMb ?? null,
    measured,
    baseline,
  };
}

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly totalMemoryMb: number;
  readonly platform: string;
  readonly node: string;
  readonly postgres: string;
}

export function machineInfo(postgresVersion: string): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    totalMemoryMb: Math.round(os.totalmem() / 2 ** 20),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: postgresVersion,
  };
}

const COLUMNS: readonly { title: string; value: (row: StepRow) => string }[] = [
  { title: 'step', value: (row) => row.step },
  { title: 'rows', value: (row) => whole(row.rows) },
  { title: 'seconds', value: (row) => row.seconds.toFixed(2) },
  { title: 'rows/s', value: (row) => whole(row.rowsPerSecond) },
  { title: 'baseline s', value: (row) => (row.baselineSeconds === null ? '-' : row.baselineSeconds.toFixed(2)) },
  { title: 'x baseline', value: (row) => (row.ratioToBaseline === null ? '-' : row.ratioToBaseline.toFixed(2)) },
  { title: 'peak RSS MB', value: (row) => row.peakRssMb.toFixed(0) },
];

export function formatTable(rows: readonly StepRow[]): string {
  const cells = [COLUMNS.map((column) => column.title), ...rows.map((row) => COLUMNS.map((column) => column.value(row)))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  // The step name reads best left-aligned, numbers right-aligned.
  return cells.map((line) => line.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}

function whole(n: number): string {
  return Math.round(n).toLocaleString('en-GB');
}

/** What `npm run bench -- --out` writes: the table's rows, and what they were measured on. */
export interface BenchReport {
  readonly date: string;
  readonly scale: number;
  readonly machine: MachineInfo;
  readonly postgresServer: string;
  readonly source: {
    /** The seeded database; each run reads a throwaway copy of it. */
    readonly database: string;
    readonly seededNow: boolean;
    readonly rows: Record<string, number>;
    readonly totalRows: number;
  };
  readonly activity: ActivityOutput & StepMeasurement & { readonly definition: string };
  readonly steps: readonly StepRow[];
}
