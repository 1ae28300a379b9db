import type { Sql, TransactionSql } from 'postgres';
import { ConfigurationError } from '../shared/errors';

/**
 * Comparing two sets of keyed rows that live in different databases without moving the rows.
 * Each database hashes every row (PostgreSQL's own 64-bit hash of the typed record,
 * `hash_record_extended`: the same values give the same hash in any database) and sums them per
 * bucket of 1024 consecutive keys (count and XOR). Only the buckets whose sums differ are read
 * again, as (key, hash) pairs, and only the first few differing rows as values, to name their
 * columns. Rows that are equal never leave their database.
 *
 * The hash is of the typed values, not of their text: md5 of each row's text costs 5.3 s for the
 * 1.3M sales orders of scale 100, the typed record's hash 1.1 s. Both sides cast every value to
 * the same type first, so equal hashes mean equal values (PostgreSQL keeps these hash functions
 * stable across versions: hash partitioning depends on them).
 */
type Database = Sql | TransactionSql;

/** One side of a comparison: rows with an integer key and typed values, read with parameters. */
export interface RowSource {
  /** The FROM clause; placeholders it needs come from `parameters`. */
  readonly from: (parameters: QueryParameters) => string;
  /** The key, an integer expression over `from`. */
  readonly key: string;
  /** Every compared column, as an expression already cast to the type both sides agree on. */
  readonly values: readonly { readonly name: string; readonly expression: string }[];
}

/** The `$n` placeholders of one query and their values. */
export class QueryParameters {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** hash_record_extended and bit_xor, which both sides need, came with PostgreSQL 14. */
export async function assertCanHashRows(sql: Database, label: string): Promise<void> {
  const [server] = await sql<{ version: number; shown: string }[]>`
    SELECT current_setting('server_version_num')::int AS version, current_setting('server_version') AS shown`;
  if (server!.version < 140000) throw new ConfigurationError(`Verification needs PostgreSQL 14 or later on both sides: ${label} runs ${server!.shown}`);
}

/** First pass: buckets of 1024 consecutive keys. */
export const BUCKET_BITS = 10;
/** Inside buckets that differ, when many do: buckets of 32 keys, so that few rows are read. */
export const SUB_BUCKET_BITS = 5;

/** Some buckets of 2^bits consecutive keys each (bucket b holds keys b * 2^bits ... (b + 1) * 2^bits - 1). */
export interface Buckets {
  readonly bits: number;
  /** Ascending. */
  readonly ids: readonly number[];
}

export interface BucketSum {
  readonly rows: number;
  /** XOR of the rows' hashes, as decimal text (a bigint). */
  readonly hash: string;
}

const hashedRows = (source: RowSource, from: string) =>
  `SELECT ${source.key} AS k, hash_record_extended(ROW(${source.values.map((v) => v.expression).join(', ')}), 0) AS h FROM ${from}`;

/**
 * Keys listed in `excludedParameter` (an int[]) are left out. Written as a join so that the
 * planner can hash the list (see preferHashPlans in verify-warehouse.ts): one probe per row.
 */
const notExcluded = (source: RowSource, excludedParameter: string) =>
  `NOT EXISTS (SELECT 1 FROM unnest(${excludedParameter}::int[]) AS excluded(key) WHERE excluded.key = ${source.key})`;

/** Up to this many key ranges are read one index range each; beyond, one scan picks the buckets. */
const MAX_RANGE_QUERIES = 32;

/** The conditions that restrict a query to the keys of `within`: index ranges when they are few, else one filter. */
function restrictTo(source: RowSource, within: Buckets | undefined): ((parameters: QueryParameters) => string)[] {
  if (!within) return [() => 'true'];
  const ranges = bucketKeyRanges(within);
  if (ranges.length <= MAX_RANGE_QUERIES) return ranges.map(([low, high]) => (p) => `${source.key} BETWEEN ${p.add(low)} AND ${p.add(high)}`);
  return [(p) => `EXISTS (SELECT 1 FROM unnest(${p.add(within.ids)}::int[]) AS bucket(id) WHERE bucket.id = (${source.key} >> ${within.bits}))`];
}

/**
 * The row count and hash sum of every bucket of 2^bits keys, the rows of `excluded` left out,
 * optionally only within the (coarser) buckets `within`.
 */
export async function readBucketSums(
  sql: Database,
  source: RowSource,
  excluded: readonly number[],
  bits: number = BUCKET_BITS,
  within?: Buckets,
): Promise<Map<number, BucketSum>> {
  const sums = new Map<number, BucketSum>();
  for (const where of restrictTo(source, within)) {
    const parameters = new QueryParameters();
    const from = source.from(parameters);
    const rows = await sql.unsafe<{ bucket: number; rows: number; hash: string }[]>(
      `SELECT (k >> ${bits})::int AS bucket, count(*)::int AS rows, bit_xor(h)::text AS hash
       FROM (${hashedRows(source, from)} WHERE ${where(parameters)} AND ${notExcluded(source, parameters.add(excluded))}) hashed
       GROUP BY 1`,
      parameters.values as never[],
    );
    for (const row of rows) sums.set(row.bucket, { rows: row.rows, hash: row.hash });
  }
  return sums;
}

/** The buckets whose sums differ between the two sides, ascending. */
export function differingBuckets(expected: ReadonlyMap<number, BucketSum>, actual: ReadonlyMap<number, BucketSum>): number[] {
  const buckets = new Set([...expected.keys(), ...actual.keys()]);
  return [...buckets]
    .filter((bucket) => {
      const e = expected.get(bucket);
      const a = actual.get(bucket);
      return e?.rows !== a?.rows || e?.hash !== a?.hash;
    })
    .sort((x, y) => x - y);
}

/** The buckets as inclusive key ranges, neighbouring buckets merged. */
export function bucketKeyRanges(buckets: Buckets): [number, number][] {
  const size = 2 ** buckets.bits;
  const ranges: [number, number][] = [];
  for (const bucket of buckets.ids) {
    const low = bucket * size;
    const high = low + size - 1;
    const last = ranges.at(-1);
    if (last && last[1] + 1 === low) last[1] = high;
    else ranges.push([low, high]);
  }
  return ranges;
}

/** Every row's hash within the given buckets, by key, the rows of `excluded` left out. */
export async function readRowHashes(sql: Database, source: RowSource, excluded: readonly number[], within: Buckets): Promise<Map<number, string>> {
  const hashes = new Map<number, string>();
  for (const where of restrictTo(source, within)) {
    const parameters = new QueryParameters();
    const from = source.from(parameters);
    const rows = await sql.unsafe<{ k: number; h: string }[]>(
      `SELECT k, h::text AS h FROM (${hashedRows(source, from)} WHERE ${where(parameters)} AND ${notExcluded(source, parameters.add(excluded))}) hashed`,
      parameters.values as never[],
    );
    for (const row of rows) hashes.set(row.k, row.h);
  }
  return hashes;
}

/** One side of a comparison: a database (in its snapshot) and how its rows are read there. */
export interface ComparedSide {
  readonly sql: Database;
  readonly source: RowSource;
}

/** Beyond this many differing buckets, 32-key buckets narrow them down before any row is read. */
const DIRECT_BUCKETS = 64;

/**
 * The keys that differ between two sides, given the (1024-key) buckets that do. A few buckets are
 * read row by row; many (a difference spread over the whole table) are first summed again in
 * 32-key buckets inside each database, so that only those rows are read.
 */
export async function findDifferentKeys(expected: ComparedSide, actual: ComparedSide, excluded: readonly number[], buckets: readonly number[]): Promise<KeyDifferences<number>> {
  let within: Buckets = { bits: BUCKET_BITS, ids: buckets };
  if (buckets.length > DIRECT_BUCKETS) {
    const [e, a] = await Promise.all([
      readBucketSums(expected.sql, expected.source, excluded, SUB_BUCKET_BITS, within),
      readBucketSums(actual.sql, actual.source, excluded, SUB_BUCKET_BITS, within),
    ]);
    within = { bits: SUB_BUCKET_BITS, ids: differingBuckets(e, a) };
  }
  const [e, a] = await Promise.all([readRowHashes(expected.sql, expected.source, excluded, within), readRowHashes(actual.sql, actual.source, excluded, within)]);
  return compareByKey(e, a, (x, y) => x === y);
}

export interface KeyDifferences<K> {
  /** Expected, not in the warehouse. */
  readonly missing: K[];
  /** In the warehouse, not expected. */
  readonly extra: K[];
  /** On both sides, with different values. */
  readonly different: K[];
}

/** Compares two keyed sets of row hashes (or any comparable values); every list ascending. */
export function compareByKey<K extends number | string, V>(expected: ReadonlyMap<K, V>, actual: ReadonlyMap<K, V>, same: (a: V, b: V) => boolean): KeyDifferences<K> {
  const missing: K[] = [];
  const different: K[] = [];
  for (const [key, value] of expected) {
    if (!actual.has(key)) missing.push(key);
    else if (!same(value, actual.get(key)!)) different.push(key);
  }
  const extra = [...actual.keys()].filter((key) => !expected.has(key));
  const order = (a: K, b: K) => (a < b ? -1 : a > b ? 1 : 0);
  return { missing: missing.sort(order), extra: extra.sort(order), different: different.sort(order) };
}

/** A row's values as PostgreSQL prints them (null for NULL), in the source's column order. */
export type RowText = readonly (string | null)[];

/** The rows of the given keys, every value as text (the typed value's own ::text). */
export async function readRowTexts(sql: Database, source: RowSource, keys: readonly number[]): Promise<Map<number, RowText>> {
  if (keys.length === 0) return new Map();
  const parameters = new QueryParameters();
  const from = source.from(parameters);
  const rows = await sql.unsafe<Record<string, string | null>[]>(
    `SELECT ${source.key} AS k, ${source.values.map((v, i) => `(${v.expression})::text AS c${i}`).join(', ')}
     FROM ${from} WHERE ${source.key} = ANY(${parameters.add(keys)}::int[])`,
    parameters.values as never[],
  );
  return new Map(rows.map((row) => [Number(row.k), source.values.map((_, i) => row[`c${i}`] ?? null)]));
}

export interface ColumnDifference {
  readonly column: string;
  /** As PostgreSQL prints the value (null for NULL). */
  readonly expected: string | null;
  readonly actual: string | null;
}

/** The columns in which two rows' values differ. */
export function differentColumns(columns: readonly string[], expected: RowText, actual: RowText): ColumnDifference[] {
  return columns.flatMap((column, i) => (expected[i] === actual[i] ? [] : [{ column, expected: expected[i] ?? null, actual: actual[i] ?? null }]));
}

export const sameRowText = (a: RowText, b: RowText): boolean => a.length === b.length && a.every((value, i) => value === b[i]);
