import type { S3Client } from '@aws-sdk/client-s3';
import type { Sql, TransactionSql } from 'postgres';
import { readKeySets, type KeySets } from '../extract/key-sets';
import { describeSource, isSameSource, readLakeIdentity, readSourceIdentity, type LakeIdentity, type SourceIdentity } from '../extract/lake-identity';
import { findManifest } from '../shared/batch-manifests';
import { setLocal } from '../shared/database';
import { PipelineStateError } from '../shared/errors';
import { LOG_EVENTS, type LogEventWriter, type VerifyLogEvent } from '../shared/log-events';
import type { IngestionManifest } from '../shared/ingestion-manifest';
import type { TotesysTableName } from '../shared/totesys-tables';
import { WAREHOUSE_TABLE_NAMES, WAREHOUSE_TABLES } from '../shared/warehouse-tables';
import { keysAbsentNow, readChangesSince, type ChangesSince } from './changes-since';
import {
  assertCanHashRows,
  compareByKey,
  differentColumns,
  differingBuckets,
  findDifferentKeys,
  readBucketSums,
  readRowTexts,
  sameRowText,
  type BucketSum,
  type RowSource,
  type RowText,
} from './compare-rows';
import {
  CALENDAR_COLUMNS,
  calendarInWarehouseSql,
  calendarSql,
  COMPARED_TABLE_NAMES,
  englishCurrencyNameLookup,
  EXPECTED_TABLES,
  typedColumns,
  warehouseRelation,
  type ExpectedTable,
} from './expected-rows';
import { EXAMPLES, mismatchesOf, type DifferentRow, type TableVerification, type VerificationResult } from './report';
import { readLastLoadedBatch, readQuarantinedKeys, readRecordedDeletions, readWarehouseObjects, type LoadedBatch, type WarehouseObjects } from './warehouse-state';

export interface VerifyDependencies {
  /** ToteSys, read-only use. */
  readonly totesys: Sql;
  /** The warehouse, read-only use. */
  readonly warehouse: Sql;
  readonly s3: S3Client;
  readonly ingestionBucket: string;
  readonly log?: LogEventWriter<VerifyLogEvent>;
}

const READ_ONLY_SNAPSHOT = 'ISOLATION LEVEL REPEATABLE READ READ ONLY';

/**
 * Compares the warehouse's current state with ToteSys as of the last batch the warehouse loaded
 * (docs/trust.md, Verification): each database is read in one snapshot of its own; ToteSys rows
 * that changed after the batch's snapshot (and the warehouse rows they would have become) are
 * left out and counted, not compared; every other expected row must be in the warehouse with the
 * same values, and no other row may be, except a dimension row whose source row's deletion the
 * warehouse records.
 */
export async function verifyWarehouse(deps: VerifyDependencies): Promise<VerificationResult> {
  const started = Date.now();
  const log = deps.log ?? (() => {});
  return deps.warehouse.begin(READ_ONLY_SNAPSHOT, async (warehouse) => {
    const batch = await readBatchToVerify(deps, warehouse);
    const batchId = batch.loaded.batchId;
    log(LOG_EVENTS.verify.started, { batchId, snapshot: batch.manifest.state.snapshot, currentViews: batch.objects.hasCurrentViews });

    return deps.totesys.begin(READ_ONLY_SNAPSHOT, async (totesys) => {
      const plans = await planComparisons(totesys, batch, deps.ingestionBucket, log);

      // Both databases hash and sum at once, each in its own snapshot; the calendar check runs in the warehouse's turn.
      await Promise.all([preferHashPlans(totesys), preferHashPlans(warehouse)]);
      const timed = async <T>(side: string, table: string, read: () => Promise<T>): Promise<T> => {
        const at = Date.now();
        const value = await read();
        log(LOG_EVENTS.verify.rowsSummed, { batchId, side, table, durationMs: Date.now() - at });
        return value;
      };
      const [sourceSums, [warehouseSums, calendar]] = await Promise.all([
        inTurn(plans.map((plan) => () => timed('totesys', plan.expected.table, () => readBucketSums(totesys, plan.source, plan.excluded)))),
        (async () => {
          const sums = await inTurn(plans.map((plan) => () => timed('warehouse', plan.expected.table, () => readBucketSums(warehouse, plan.warehouse, plan.excluded))));
          return [sums, await timed('warehouse', 'dim_date', () => verifyCalendar(warehouse))] as const;
        })(),
      ]);

      const results = new Map<string, TableVerification>([['dim_date', calendar]]);
      for (const [i, plan] of plans.entries()) {
        const result = await compareTable(totesys, warehouse, plan, sourceSums[i]!, warehouseSums[i]!);
        results.set(plan.expected.table, result);
        const { table, compared, missing, extra, different, changedSince } = result;
        log(LOG_EVENTS.verify.tableVerified, { batchId, table, rows: compared, missing, extra, different, changedSince });
      }
      const tables = WAREHOUSE_TABLE_NAMES.map((name) => results.get(name)!);
      const mismatchedRows = tables.reduce((sum, t) => sum + mismatchesOf(t), 0);
      const durationMs = Date.now() - started;
      log(LOG_EVENTS.verify.finished, { batchId, mismatchedRows, durationMs });
      const lake = batch.loaded.lakeId ? { lakeId: batch.loaded.lakeId } : {};
      return { batchId, ...lake, extractedAt: batch.manifest.extractedAt, tables, mismatchedRows, durationMs };
    });
  });
}

/** The batch the warehouse's state is of, and what the lake and the warehouse say about it. */
interface BatchToVerify {
  readonly loaded: LoadedBatch;
  readonly manifest: IngestionManifest;
  readonly keySets: KeySets | undefined;
  readonly lakeIdentity: LakeIdentity | undefined;
  readonly objects: WarehouseObjects;
  /** Keys whose deletion the warehouse records, per dimension source table. */
  readonly recordedDeletions: ReadonlyMap<TotesysTableName, readonly number[]>;
  /** Keys held in quarantine as of the batch, per ToteSys table. */
  readonly quarantined: ReadonlyMap<TotesysTableName, readonly number[]>;
}

async function readBatchToVerify(deps: VerifyDependencies, warehouse: TransactionSql): Promise<BatchToVerify> {
  await useIsoDates(warehouse);
  await assertCanHashRows(warehouse, 'the warehouse');
  const loaded = await readLastLoadedBatch(warehouse);
  if (!loaded) throw new PipelineStateError('Nothing to verify: the warehouse holds no batch; run the pipeline first');
  const manifest = await findManifest<IngestionManifest>(deps.s3, deps.ingestionBucket, loaded.batchId);
  if (!manifest) {
    throw new PipelineStateError(
      `The warehouse's last loaded batch ${loaded.batchId} has no manifest in the ingestion bucket ${deps.ingestionBucket}: ` +
        'is INGESTION_BUCKET the bucket of the lake the warehouse was loaded from?',
    );
  }
  assertSameLake(loaded, manifest, deps.ingestionBucket);
  const keySets = manifest.state.keySetsKey ? await readKeySets(deps.s3, deps.ingestionBucket, manifest.state.keySetsKey) : undefined;
  const lakeIdentity = await readLakeIdentity(deps.s3, deps.ingestionBucket);
  const objects = await readWarehouseObjects(warehouse);
  const dimensionSources = COMPARED_TABLE_NAMES.filter((t) => WAREHOUSE_TABLES[t].kind === 'dimension').map((t) => EXPECTED_TABLES[t].sourceTable);
  const recordedDeletions = objects.hasDeletions ? await readRecordedDeletions(warehouse, dimensionSources) : new Map<TotesysTableName, number[]>();
  const quarantined = objects.hasQuarantine ? await readQuarantinedKeys(warehouse) : new Map<TotesysTableName, number[]>();
  return { loaded, manifest, keySets, lakeIdentity, objects, recordedDeletions, quarantined };
}

/** Reads what changed in ToteSys since the batch, and makes each table's comparison of the rest. */
async function planComparisons(totesys: TransactionSql, batch: BatchToVerify, bucket: string, log: NonNullable<VerifyDependencies['log']>): Promise<TablePlan[]> {
  const batchId = batch.loaded.batchId;
  const changes = await readChangesSince(totesys, batchId, batch.manifest.state, batch.keySets);
  await assertCanHashRows(totesys, 'ToteSys');
  if (batch.lakeIdentity) assertLakeSource(batch.lakeIdentity, await readSourceIdentity(totesys), bucket);
  await useIsoDates(totesys);
  const counts = (keys: ReadonlyMap<TotesysTableName, readonly number[]>) => Object.fromEntries([...keys].filter(([, k]) => k.length > 0).map(([t, k]) => [t, k.length]));
  log(LOG_EVENTS.verify.changesSinceRead, { batchId, changed: counts(changes.changed), deleted: counts(changes.deleted) });
  if (!changes.knowsDeletions) log(LOG_EVENTS.verify.noKeySets, { batchId });

  const codes = (await totesys<{ code: string }[]>`SELECT DISTINCT currency_code AS code FROM public.currency`).map((row) => row.code);
  const currencyNames = englishCurrencyNameLookup(codes);
  const plans: TablePlan[] = [];
  for (const table of COMPARED_TABLE_NAMES) {
    const expected = EXPECTED_TABLES[table];
    const left = await keysLeftOut(totesys, expected, changes, batch.recordedDeletions.get(expected.sourceTable) ?? [], batch.quarantined);
    plans.push({ expected, ...left, source: totesysRows(expected, currencyNames), warehouse: warehouseRows(expected, batch.objects.hasCurrentViews) });
  }
  return plans;
}

interface TablePlan {
  readonly expected: ExpectedTable;
  readonly source: RowSource;
  readonly warehouse: RowSource;
  /** Changed or deleted in ToteSys since the batch, or built from such a row: not compared. */
  readonly changedSince: readonly number[];
  /** Recorded as deleted and absent from ToteSys: the dimension keeps the row on purpose. */
  readonly deletedKept: readonly number[];
  /** Held in quarantine, or built from a held row: the warehouse keeps the last good version. */
  readonly quarantined: readonly number[];
  /** All of the above, ascending: left out on both sides. */
  readonly excluded: readonly number[];
}

/** The keys of a table that are not compared, and why. */
async function keysLeftOut(
  totesys: TransactionSql,
  expected: ExpectedTable,
  changes: ChangesSince,
  recordedDeletions: readonly number[],
  quarantined: ReadonlyMap<TotesysTableName, readonly number[]>,
): Promise<Pick<TablePlan, 'changedSince' | 'deletedKept' | 'quarantined' | 'excluded'>> {
  const changedOrDeleted = (table: TotesysTableName) => [...(changes.changed.get(table) ?? []), ...(changes.deleted.get(table) ?? [])];
  const changedSince = await keysBuiltFrom(totesys, expected, changedOrDeleted);
  const held = await keysBuiltFrom(totesys, expected, (table) => quarantined.get(table) ?? []);
  for (const key of changedSince) held.delete(key);
  const kept = (await keysAbsentNow(totesys, expected.sourceTable, recordedDeletions)).filter((key) => !changedSince.has(key) && !held.has(key));
  const ascending = (keys: Iterable<number>) => [...keys].sort((a, b) => a - b);
  return { changedSince: ascending(changedSince), deletedKept: kept, quarantined: ascending(held), excluded: ascending(new Set([...changedSince, ...held, ...kept])) };
}

/** The table's keys whose row is one of `keysOf(source)`, or is built from one of `keysOf(dependency)`. */
async function keysBuiltFrom(totesys: TransactionSql, expected: ExpectedTable, keysOf: (table: TotesysTableName) => readonly number[]): Promise<Set<number>> {
  const found = new Set(keysOf(expected.sourceTable));
  for (const dependency of expected.builtAlsoFrom ?? []) {
    const keys = keysOf(dependency.sourceTable);
    if (keys.length === 0) continue;
    for (const row of await totesys.unsafe<{ key: number }[]>(dependency.keysSql, [keys as number[]])) found.add(row.key);
  }
  return found;
}

/** ToteSys rows after the warehouse rules, every value cast to its warehouse column's type. */
function totesysRows(expected: ExpectedTable, currencyNames: { codes: string[]; names: string[] }): RowSource {
  return {
    from: (parameters) => expected.from(() => ({ codes: parameters.add(currencyNames.codes), names: parameters.add(currencyNames.names) })),
    key: expected.columns[expected.key]!,
    values: typedColumns(expected.table).map((column) => ({ name: column.name, expression: `(${expected.columns[column.name]})::${column.sqlType}` })),
  };
}

/** The warehouse's current rows of the table, every value cast as the ToteSys side casts it. */
function warehouseRows(expected: ExpectedTable, hasCurrentViews: boolean): RowSource {
  return {
    from: () => `${warehouseRelation(expected.table, hasCurrentViews)} w`,
    key: `w."${expected.key}"`,
    values: typedColumns(expected.table).map((column) => ({ name: column.name, expression: `w."${column.name}"::${column.sqlType}` })),
  };
}

async function compareTable(
  totesys: TransactionSql,
  warehouse: TransactionSql,
  plan: TablePlan,
  sourceSums: ReadonlyMap<number, BucketSum>,
  warehouseSums: ReadonlyMap<number, BucketSum>,
): Promise<TableVerification> {
  const total = (sums: ReadonlyMap<number, BucketSum>) => [...sums.values()].reduce((sum, bucket) => sum + bucket.rows, 0);
  const buckets = differingBuckets(sourceSums, warehouseSums);
  let differences = { missing: [] as number[], extra: [] as number[], different: [] as number[] };
  let different: DifferentRow[] = [];
  if (buckets.length > 0) {
    differences = await findDifferentKeys({ sql: totesys, source: plan.source }, { sql: warehouse, source: plan.warehouse }, plan.excluded, buckets);
    const shown = differences.different.slice(0, EXAMPLES);
    const [expectedText, actualText] = await Promise.all([readRowTexts(totesys, plan.source, shown), readRowTexts(warehouse, plan.warehouse, shown)]);
    const columns = plan.source.values.map((v) => v.name);
    different = shown.map((key) => ({ key, columns: differentColumns(columns, expectedText.get(key) ?? [], actualText.get(key) ?? []) }));
  }
  return {
    table: plan.expected.table,
    key: plan.expected.key,
    compared: total(sourceSums),
    warehouseRows: total(warehouseSums),
    missing: differences.missing.length,
    extra: differences.extra.length,
    different: differences.different.length,
    changedSince: plan.changedSince.length,
    deletedKept: plan.deletedKept.length,
    quarantined: plan.quarantined.length,
    examples: {
      missing: differences.missing.slice(0, EXAMPLES),
      extra: differences.extra.slice(0, EXAMPLES),
      different,
      changedSince: plan.changedSince.slice(0, EXAMPLES),
      quarantined: plan.quarantined.slice(0, EXAMPLES),
    },
  };
}

/** dim_date against the calendar its facts need, both computed in the warehouse's snapshot. */
async function verifyCalendar(warehouse: TransactionSql): Promise<TableVerification> {
  const read = async (query: string) =>
    new Map<string, RowText>(
      (await warehouse.unsafe<Record<string, string | null>[]>(query)).map((row) => [row.date_id!, CALENDAR_COLUMNS.map((c) => row[c] ?? null)]),
    );
  const [expected, actual] = [await read(calendarSql()), await read(calendarInWarehouseSql())];
  const differences = compareByKey(expected, actual, sameRowText);
  return {
    table: 'dim_date',
    key: 'date_id',
    compared: expected.size,
    warehouseRows: actual.size,
    missing: differences.missing.length,
    extra: differences.extra.length,
    different: differences.different.length,
    changedSince: 0,
    deletedKept: 0,
    quarantined: 0,
    examples: {
      missing: differences.missing.slice(0, EXAMPLES),
      extra: differences.extra.slice(0, EXAMPLES),
      different: differences.different.slice(0, EXAMPLES).map((key) => ({ key, columns: differentColumns(CALENDAR_COLUMNS, expected.get(key)!, actual.get(key)!) })),
      changedSince: [],
      quarantined: [],
    },
  };
}

/** Dates print as YYYY-MM-DD on both sides, whatever the servers' defaults. */
async function useIsoDates(tx: TransactionSql): Promise<void> {
  await setLocal(tx, { DateStyle: 'ISO, YMD' });
}

/**
 * Hash joins and hash aggregates from here on, for the rest of the transaction: every query that
 * follows scans a table (or some of its key ranges) and joins it with a list of keys or buckets.
 * Right after a bulk load the warehouse has no statistics yet: the planner then takes a current_*
 * view for a few hundred rows, probes source_row_deletions once per row and sorts millions of
 * rows on disk to group them (5.4 s instead of 3.5 s for 1.3M sales orders at scale 100); and a
 * key list passed as a parameter is always estimated at ten rows, which makes a nested loop look
 * cheap over a whole table.
 */
async function preferHashPlans(tx: TransactionSql): Promise<void> {
  await setLocal(tx, { enable_nestloop: 'off', enable_sort: 'off' });
}

/** Runs the steps one after another (one connection runs one query at a time). */
async function inTurn<T>(steps: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  for (const step of steps) results.push(await step());
  return results;
}

function assertSameLake(loaded: LoadedBatch, manifest: IngestionManifest, bucket: string): void {
  const lakeId = manifest.lake?.lakeId;
  if (loaded.lakeId && lakeId && loaded.lakeId !== lakeId) {
    throw new PipelineStateError(
      `The warehouse was loaded from lake ${loaded.lakeId}, but the ingestion bucket ${bucket} is lake ${lakeId}: ` +
        'point INGESTION_BUCKET at the bucket of the lake the warehouse was loaded from',
    );
  }
}

/** The same test as Extract's: the lake's ToteSys is this ToteSys (name and oid, and the cluster where both know it). */
function assertLakeSource(identity: LakeIdentity, source: SourceIdentity, bucket: string): void {
  if (!isSameSource(identity.source, source)) {
    throw new PipelineStateError(
      `The ingestion bucket ${bucket} is lake ${identity.lakeId}, extracted from ToteSys ${describeSource(identity.source)}, ` +
        `but TOTESYS points at ${describeSource(source)}: the warehouse can only be compared with the ToteSys it was loaded from`,
    );
  }
}

