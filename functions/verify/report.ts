import type { WarehouseTableName } from '../shared/warehouse-tables';
import type { VerifyOutput } from '../shared/step-contract';
import type { ColumnDifference } from './compare-rows';

/** A row's identity in a report: a source key, or dim_date's date ('YYYY-MM-DD'). */
export type RowKey = number | string;

export interface DifferentRow {
  readonly key: RowKey;
  readonly columns: readonly ColumnDifference[];
}

/** How many examples of each kind a table's report keeps. */
export const EXAMPLES = 5;

export interface TableVerification {
  readonly table: WarehouseTableName;
  /** The column the keys below are values of. */
  readonly key: string;
  /** Rows expected (from ToteSys, what changed since the batch left out) and compared. */
  readonly compared: number;
  /** Rows the warehouse holds, compared (a fact's current versions; what changed since left out). */
  readonly warehouseRows: number;
  readonly missing: number;
  readonly extra: number;
  readonly different: number;
  /** Keys left out because ToteSys changed them (or deleted them) after the batch's snapshot. */
  readonly changedSince: number;
  /** Dimension rows whose source row was deleted and whose deletion the warehouse records: kept on purpose. */
  readonly deletedKept: number;
  /** Keys left out because their ToteSys row (or one they are built from) is held in quarantine (pipeline.quarantined_rows). */
  readonly quarantined: number;
  /** The first few keys of each kind, ascending; a different row with the columns that differ. */
  readonly examples: {
    readonly missing: readonly RowKey[];
    readonly extra: readonly RowKey[];
    readonly different: readonly DifferentRow[];
    readonly changedSince: readonly RowKey[];
    readonly quarantined: readonly RowKey[];
  };
}

export interface VerificationResult {
  /** The last batch loaded into the warehouse: ToteSys is compared as of its snapshot. */
  readonly batchId: string;
  readonly lakeId?: string;
  /** When that batch's snapshot was taken (its extract). */
  readonly extractedAt: string;
  readonly tables: readonly TableVerification[];
  /** Missing, extra and different rows, all tables together: 0 means equal. */
  readonly mismatchedRows: number;
  readonly durationMs: number;
}

export const mismatchesOf = (table: Pick<TableVerification, 'missing' | 'extra' | 'different'>): number => table.missing + table.extra + table.different;

/** The result in a few hundred bytes: counts per table, no keys (a Lambda's output, a metric's input). */
export function summarize(result: VerificationResult): VerifyOutput {
  return {
    batchId: result.batchId,
    mismatchedRows: result.mismatchedRows,
    tables: Object.fromEntries(
      result.tables.map((t) => [t.table, { compared: t.compared, missing: t.missing, extra: t.extra, different: t.different, changedSince: t.changedSince }]),
    ),
  };
}

const count = (n: number) => n.toLocaleString('en-GB');
const shown = (value: string | null) => (value === null ? 'NULL' : JSON.stringify(value));

/** The report as people read it: a table of counts, then every kind of difference with its first keys. */
export function formatReport(result: VerificationResult): string {
  const lines: string[] = [];
  lines.push(
    `Warehouse verification: the warehouse's current state against ToteSys as of batch ${result.batchId}` +
      ` (its snapshot, extracted ${result.extractedAt}${result.lakeId ? `; lake ${result.lakeId}` : ''})`,
    '',
  );
  const header = ['table', 'compared', 'missing', 'extra', 'different', 'changed since'];
  const rows = result.tables.map((t) => [t.table, count(t.compared), count(t.missing), count(t.extra), count(t.different), count(t.changedSince)]);
  const total = (pick: (t: TableVerification) => number) => count(result.tables.reduce((sum, t) => sum + pick(t), 0));
  rows.push(['total', total((t) => t.compared), total((t) => t.missing), total((t) => t.extra), total((t) => t.different), total((t) => t.changedSince)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`;
  lines.push(line(header));
  for (const [i, row] of rows.entries()) {
    if (i === rows.length - 1) lines.push(line(widths.map((w) => '-'.repeat(w))));
    lines.push(line(row));
  }

  const keys = (list: readonly RowKey[], all: number) => `${list.join(', ')}${all > list.length ? `, … (${count(all)} in all)` : ''}`;
  const details: string[] = [];
  for (const t of result.tables) {
    if (t.missing > 0) details.push(`  ${t.table}: missing from the warehouse, ${t.key} ${keys(t.examples.missing, t.missing)}`);
    if (t.extra > 0) details.push(`  ${t.table}: in the warehouse but not in ToteSys, ${t.key} ${keys(t.examples.extra, t.extra)}`);
    if (t.different > 0) {
      details.push(`  ${t.table}: different values, ${count(t.different)} row${t.different === 1 ? '' : 's'}`);
      for (const row of t.examples.different) {
        const columns = row.columns.map((c) => `${c.column} ToteSys ${shown(c.expected)}, warehouse ${shown(c.actual)}`).join('; ');
        details.push(`    ${t.key} ${row.key}: ${columns}`);
      }
    }
  }
  if (details.length > 0) lines.push('', 'Mismatches:', ...details);

  const changed = result.tables.filter((t) => t.changedSince > 0);
  if (changed.length > 0) {
    lines.push('', `Changed in ToteSys since batch ${result.batchId} (not compared; the next run carries them):`);
    for (const t of changed) lines.push(`  ${t.table}: ${t.key} ${keys(t.examples.changedSince, t.changedSince)}`);
  }
  const held = result.tables.filter((t) => t.quarantined > 0);
  if (held.length > 0) {
    lines.push('', 'Held in quarantine (not compared; the warehouse keeps their last good version until they heal; npm run quarantine says why):');
    for (const t of held) lines.push(`  ${t.table}: ${t.key} ${keys(t.examples.quarantined, t.quarantined)}`);
  }
  const kept = result.tables.filter((t) => t.deletedKept > 0);
  if (kept.length > 0) {
    lines.push('', 'Deleted from ToteSys, kept in their dimension as recorded in source_row_deletions (not compared):');
    for (const t of kept) lines.push(`  ${t.table}: ${count(t.deletedKept)}`);
  }

  const seconds = `${(result.durationMs / 1000).toFixed(1)} s`;
  const tablesWithMismatches = result.tables.filter((t) => mismatchesOf(t) > 0).length;
  lines.push(
    '',
    result.mismatchedRows === 0
      ? `EQUAL: the warehouse equals ToteSys as of batch ${result.batchId} (${seconds}).`
      : `NOT EQUAL: ${count(result.mismatchedRows)} mismatched row${result.mismatchedRows === 1 ? '' : 's'} in ${tablesWithMismatches} table${tablesWithMismatches === 1 ? '' : 's'} (${seconds}).`,
  );
  return lines.join('\n');
}
