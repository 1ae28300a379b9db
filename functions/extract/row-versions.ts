import type { SourceTable } from '../shared/totesys-tables';

/**
 * Which row versions are new since the last extract, decided by PostgreSQL's own MVCC data rather
 * than by `last_updated` (which the application sets, which many rows share, and which a
 * transaction can stamp long before it commits).
 *
 * Every row version carries `xmin`, the id of the transaction that wrote it. An extract reads all
 * tables in one REPEATABLE READ snapshot S. The rows it must return are exactly those visible in
 * S but not visible in the previous batch's snapshot P. A row visible now whose writer id is below
 * P.xmin was committed before P was taken, so P saw it. For ids at or above P.xmin, visibility in
 * P is not a function of the id alone (PostgreSQL's `pg_visible_in_snapshot` is wrong for
 * subtransaction ids), so the previous extract recorded the exact set of ids >= P.xmin that P saw:
 * `committedXids`. Hence: new = visible now AND xid >= P.xmin AND xid NOT IN committedXids.
 * Nothing is missed (a late commit's rows are either above P.xmin and not in P's set, or were
 * visible to P) and nothing is read twice, without any delay or clock.
 *
 * `xmin` is 32 bits and wraps; ids are widened to 64 bits ("full" ids, as in pg_snapshot) against
 * the current snapshot's xmax, the newest id that can exist. Special ids (1 bootstrap, 2 frozen)
 * stay as they are, older than everything.
 */
export interface Snapshot {
  readonly xmin: bigint;
  readonly xmax: bigint;
  readonly xip: readonly bigint[];
}

/** What an extract leaves for the next one, stored in its batch manifest. */
export interface ExtractionState {
  /** The batch's snapshot, in pg_snapshot text form "xmin:xmax:xip,…". */
  readonly snapshot: string;
  /** Ids >= snapshot.xmin of the transactions whose rows that snapshot saw, ascending. */
  readonly committedXids: readonly string[];
}

export function parseSnapshot(text: string): Snapshot {
  const match = /^(\d+):(\d+):([\d,]*)$/.exec(text.trim());
  if (!match) throw new Error(`Not a pg_snapshot: "${text}"`);
  return {
    xmin: BigInt(match[1]!),
    xmax: BigInt(match[2]!),
    xip: match[3] ? match[3].split(',').map((id) => BigInt(id)) : [],
  };
}

export function formatSnapshot(snapshot: Snapshot): string {
  return `${snapshot.xmin}:${snapshot.xmax}:${snapshot.xip.join(',')}`;
}

/** Settings the extract queries read, set with parameters from `extractionBounds` (COPY takes no parameters). */
const SETTING = {
  nextXid: 'totesys_extract.next_xid',
  afterXid: 'totesys_extract.after_xid',
  afterXid32: 'totesys_extract.after_xid32',
  snapshotXmin32: 'totesys_extract.snapshot_xmin32',
  committedXids: 'totesys_extract.committed_xids',
} as const;

const XID_SPACE = 2n ** 32n;

/** Binds the current snapshot and the previous state for this transaction's extract queries. */
export function extractionBounds(current: Snapshot, previous: ExtractionState | undefined) {
  const after = previous ? parseSnapshot(previous.snapshot).xmin : 0n;
  return {
    [SETTING.nextXid]: current.xmax.toString(),
    [SETTING.afterXid]: after.toString(),
    [SETTING.afterXid32]: (after % XID_SPACE).toString(),
    [SETTING.snapshotXmin32]: (current.xmin % XID_SPACE).toString(),
    [SETTING.committedXids]: `{${previous ? previous.committedXids.join(',') : ''}}`,
  };
}

/**
 * How a table is scanned. `all` on the first run (no filter at all). `changed` applies the exact
 * rule. `changed-prefiltered` first drops rows whose writer is older than the bound with the cheap
 * built-in `age(xmin)` (32-bit, so only valid while the bound is less than 2^31 ids old, with a
 * margin), then applies the exact rule to what is left: the exact rule's arithmetic is what an
 * incremental scan spends its time on.
 */
export type ScanMode = 'all' | 'changed' | 'changed-prefiltered';

const AGE_LIMIT = 2n ** 31n - 2n ** 24n;

export function scanMode(current: Snapshot, previous: ExtractionState | undefined): ScanMode {
  if (!previous) return 'all';
  return current.xmax - parseSnapshot(previous.snapshot).xmin < AGE_LIMIT ? 'changed-prefiltered' : 'changed';
}

/** True when `age()` can pre-filter writers newer than the current snapshot's xmin. */
export function canPrefilterCurrent(current: Snapshot): boolean {
  return current.xmax - current.xmin < AGE_LIMIT;
}

/** The 64-bit id of the transaction that wrote row `alias`, as SQL (constants are InitPlans, evaluated once). */
function fullXminOf(alias: string): string {
  const raw = `${alias}.xmin::text::bigint`;
  const next = `(SELECT current_setting('${SETTING.nextXid}')::bigint)`;
  return `CASE WHEN ${raw} < 3 THEN ${raw} ELSE ${next} - ((${next} % 4294967296 - ${raw} + 4294967296) % 4294967296) END`;
}

function qualified(table: SourceTable): string {
  return `"public"."${table.name}"`;
}

/**
 * COPY of the table's new row versions as JSON lines, each followed by a second field: the row's
 * writer id when it is at or above the current snapshot's xmin (else empty), so that the one scan
 * that extracts the rows also gives the next extract's bound (`committedXids`) without reading
 * the table again. CSV with delimiter \x02 and quote \x01, characters that JSON text never
 * holds raw (PostgreSQL escapes every control character in JSON), passes each JSON text through
 * verbatim, where COPY's text format would double every backslash: a line is
 * `{"<primary key>":…}\x02<writer id or nothing>\n`. `prefilter`: `canPrefilterCurrent`.
 */
export function changedRowsCopySql(table: SourceTable, mode: ScanMode, prefilter: boolean): string {
  const names = Object.keys(table.columns);
  const columns = names.map((column) => `t."${column}"`).join(', ');
  const currentXmin = `(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)`;
  const rows =
    mode === 'all'
      ? // Every row: the writer's full id only where age() says it may be at or above the xmin.
        `SELECT ${columns}, ${prefilter ? `CASE WHEN ${newerThan('t', SETTING.snapshotXmin32)} THEN ` : ''}CASE WHEN ${fullXminOf('t')} >= ${currentXmin} THEN ${fullXminOf('t')} END${prefilter ? ' END' : ''} AS "${WRITER_COLUMN}"
    FROM ${qualified(table)} t`
      : newVersionsOf(table, `${columns}, CASE WHEN writer.id >= ${currentXmin} THEN writer.id END AS "${WRITER_COLUMN}"`, mode);
  return `COPY (
  SELECT row_to_json(r)::text, s."${WRITER_COLUMN}" FROM (
    ${rows}
  ) s CROSS JOIN LATERAL (SELECT ${names.map((column) => `s."${column}"`).join(', ')}) r
) TO STDOUT WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')`;
}

/** The column of `changedRowsCopySql`'s rows that carries the writer id (not a ToteSys column: ToteSys names have no leading underscore). */
const WRITER_COLUMN = '_writer_xid';

/** `columns` of the table's row versions (alias `t`) that are new since the bound state: the exact rule, optionally pre-filtered. */
function newVersionsOf(table: SourceTable, columns: string, mode: Exclude<ScanMode, 'all'>): string {
  return `SELECT ${columns}
    FROM ${qualified(table)} t CROSS JOIN LATERAL (SELECT ${fullXminOf('t')} AS id) writer
    WHERE ${mode === 'changed-prefiltered' ? `${newerThan('t', SETTING.afterXid32)}\n      AND ` : ''}writer.id >= (SELECT current_setting('${SETTING.afterXid}')::bigint)
      AND writer.id NOT IN (SELECT unnest(current_setting('${SETTING.committedXids}')::bigint[]))`;
}

/**
 * The primary keys (column `key`) of the table's rows whose version is new since the state bound
 * by `extractionBounds`: the rows `changedRowsCopySql` would extract, keys only. Verification
 * uses it to leave out what changed in ToteSys after the batch it compares with.
 */
export function changedKeysSql(table: SourceTable, mode: Exclude<ScanMode, 'all'>): string {
  return newVersionsOf(table, `t."${table.primaryKey}" AS key`, mode);
}

/** Writer of row `alias` at or after the 32-bit id in `setting`, by `age()`: cheap, no text conversion. */
function newerThan(alias: string, setting: string): string {
  return `age(${alias}.xmin) <= (SELECT age(current_setting('${setting}')::xid))`;
}

/** Ids >= the snapshot's xmin of the writers of every row visible now, across all tables. */
export function committedXidsSql(tables: readonly SourceTable[], prefilter: boolean): string {
  const where = prefilter ? ` WHERE ${newerThan('t', SETTING.snapshotXmin32)}` : '';
  const writers = tables.map((table) => `SELECT ${fullXminOf('t')} AS id FROM ${qualified(table)} t${where}`).join('\n  UNION ALL ');
  return `SELECT DISTINCT w.id FROM (
  ${writers}
) w
WHERE w.id >= (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)
ORDER BY w.id`;
}

/**
 * The same set as `committedXidsSql`, without reading every table again, for an extract that
 * follows a batch P in snapshot S (S.xmin >= P.xmin): a row visible in S whose writer is at or
 * above S.xmin was either written by a transaction that P saw (so its id is in P's committedXids,
 * also at or above S.xmin) or it is new since P, so this batch extracted it. Hence the set is P's
 * ids at or above S.xmin (this function) plus the writers at or above S.xmin of the extracted rows,
 * which `changedRowsCopySql` gives with each row. An id of P's whose rows have been overwritten
 * since stays in the set harmlessly: S saw it committed all the same.
 */
export function carriedCommittedXids(previous: ExtractionState, current: Snapshot): bigint[] | undefined {
  if (current.xmin < parseSnapshot(previous.snapshot).xmin) return undefined;
  return previous.committedXids.map((id) => BigInt(id)).filter((id) => id >= current.xmin);
}

