import type { Sql } from 'postgres';
import { loadBatch, loadPendingBatches } from '../../functions/load/load-batches';
import { applyActivity, type ActivitySummary } from '../../scripts/totesys/activity';
import { seedTotesys } from '../../scripts/totesys/generate';
import { createTotesysSchema } from '../../scripts/totesys/schema';
import { formatTimestamp } from '../../scripts/totesys/timestamp';
import { useTestDatabase } from '../support/database';
import { useTestLake, type PipelineRun } from '../support/local-pipeline';
import {
  calendar,
  DIM_DATE_COLUMNS,
  DIMENSION_ORACLES,
  diffRows,
  dumpWarehouse,
  FACT_DATE_COLUMNS,
  FACT_ORACLES,
  keyOf,
  noDifferences,
  readCanonical,
  readLatestFactVersions,
  readSource,
  readWarehouse,
  versionKey,
  type CanonicalRow,
  type OracleTable,
} from '../support/warehouse-oracle';

/**
 * The whole pipeline in process: a seeded ToteSys goes through Extract, Transform and Load into a
 * warehouse; the application then writes to ToteSys and the pipeline runs again. The warehouse is
 * compared with ToteSys through an independent oracle (tests/support/warehouse-oracle.ts): plain
 * SQL on ToteSys and hand-written rules, never the pipeline's own models or output.
 */

type SourceFacts = Record<string, CanonicalRow[]>;

describe('end to end: ToteSys -> Extract -> Transform -> Load -> warehouse', () => {
  const totesys = useTestDatabase('e2e_totesys');
  const warehouse = useTestDatabase('e2e_warehouse');
  const lake = useTestLake('e2e', { warehouse });

  /** The application's clock (UTC wall time, as ToteSys stores it) just before the activity. */
  let activityStart: string;
  let activity: ActivitySummary;
  /** Writes the test added because the activity happened not to make them. */
  const addedWrites: string[] = [];
  let firstRun: PipelineRun;
  let secondRun: PipelineRun;
  /** Every fact's source rows as ToteSys held them right after each run's extract. */
  let sourceAtFirstRun: SourceFacts;
  let sourceAtSecondRun: SourceFacts;

  const runPipeline = () => lake.runPipeline(totesys.sql);

  async function readSourceFacts(sql: Sql): Promise<SourceFacts> {
    const facts: SourceFacts = {};
    for (const fact of FACT_ORACLES) facts[fact.table] = await readSource(sql, fact);
    return facts;
  }

  /** UTC wall time now, the way the ToteSys application stamps its writes. */
  const utcNow = `(now() AT TIME ZONE 'UTC')::timestamp(3)`;

  /**
   * Makes sure the writes between the runs include an order update, a counterparty's address
   * change and a department rename that reaches staff; adds one of each that is missing.
   */
  async function ensureInterestingWrites(sql: Sql): Promise<void> {
    const [touched] = await sql<{ amended: boolean; moved: boolean; renamed: boolean }[]>`
      SELECT
        EXISTS (SELECT 1 FROM sales_order WHERE created_at < ${activityStart}::timestamp AND last_updated >= ${activityStart}::timestamp) AS amended,
        EXISTS (SELECT 1 FROM counterparty cp JOIN address a ON a.address_id = cp.legal_address_id
                WHERE a.last_updated >= ${activityStart}::timestamp) AS moved,
        EXISTS (SELECT 1 FROM staff s JOIN department d ON d.department_id = s.department_id
                WHERE d.last_updated >= ${activityStart}::timestamp) AS renamed`;
    if (!touched!.amended) {
      addedWrites.push('sales_order_amended');
      await sql.unsafe(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${utcNow}
                        WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)`);
    }
    if (!touched!.moved) {
      addedWrites.push('counterparty_moved');
      await sql.unsafe(`UPDATE address SET address_line_1 = '1 Moved Street', city = 'Elsewhere', last_updated = ${utcNow}
                        WHERE address_id = (SELECT legal_address_id FROM counterparty ORDER BY counterparty_id LIMIT 1)`);
    }
    if (!touched!.renamed) {
      addedWrites.push('department_renamed');
      await sql.unsafe(`UPDATE department SET department_name = department_name || ' Team', last_updated = ${utcNow}
                        WHERE department_id = (SELECT department_id FROM staff ORDER BY staff_id LIMIT 1)`);
    }
  }

  beforeAll(async () => {
    await lake.fresh();
    await createTotesysSchema(totesys.sql);
    await seedTotesys(totesys.sql, { scale: 0.02 });
    firstRun = await runPipeline();
    sourceAtFirstRun = await readSourceFacts(totesys.sql);

    activityStart = formatTimestamp(Date.now());
    activity = await applyActivity(totesys.sql, { writes: 200 });
    await ensureInterestingWrites(totesys.sql);
    secondRun = await runPipeline();
    sourceAtSecondRun = await readSourceFacts(totesys.sql);
  }, 120_000);

  it('moves one batch through all three steps on each run', () => {
    expect(firstRun.extract.batchId).toBe('0000000001');
    expect(firstRun.transform.transformedBatchIds).toEqual(['0000000001']);
    expect(firstRun.load.loadedBatchIds).toEqual(['0000000001']);
    expect(secondRun.extract.batchId).toBe('0000000002');
    expect(secondRun.transform.transformedBatchIds).toEqual(['0000000002']);
    expect(secondRun.load.loadedBatchIds).toEqual(['0000000002']);
    expect(secondRun.load.upToBatchId).toBe('0000000002');
    // The scenario the rest relies on: the activity wrote between the runs, including the writes that reach dimensions.
    expect(activity.writes).toBe(200);
    expect(activity.byKind.counterparty_moved + (addedWrites.includes('counterparty_moved') ? 1 : 0)).toBeGreaterThan(0);
    expect(activity.byKind.department_renamed + (addedWrites.includes('department_renamed') ? 1 : 0)).toBeGreaterThan(0);
  });

  it.each(FACT_ORACLES.map((fact) => [fact.table, fact] as const))(
    '%s: the latest version of every source row equals the ToteSys row, column by column',
    async (_table, fact) => {
      const expected = await readSource(totesys.sql, fact);
      const actual = await readLatestFactVersions(warehouse.sql, fact);
      expect(expected.length).toBeGreaterThan(0);
      expect(diffRows(expected, actual, fact.key)).toEqual(noDifferences(expected.length));
    },
  );

  it.each(FACT_ORACLES.map((fact) => [fact.table, fact] as const))(
    '%s: holds every version ToteSys had at each run, each exactly once',
    async (_table, fact) => {
      const versions = versionKey(fact);
      // Every (source key, last_updated) ToteSys held when a run extracted, once.
      const expected = new Map<string, CanonicalRow>();
      for (const row of [...sourceAtFirstRun[fact.table]!, ...sourceAtSecondRun[fact.table]!]) expected.set(keyOf(row, versions), row);
      const actual = await readWarehouse(warehouse.sql, fact);
      // diffRows reports duplicate (source key, last_updated_date, last_updated_time) in the warehouse too.
      expect(diffRows([...expected.values()], actual, versions)).toEqual(noDifferences(expected.size));

      const [duplicates] = await warehouse.sql.unsafe<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${fact.table}
         GROUP BY "${fact.key[0]}", last_updated_date, last_updated_time HAVING count(*) > 1) d`,
      );
      expect(duplicates!.n).toBe(0);
    },
  );

  it('keeps two versions of an order the activity updated between the runs', async () => {
    const sales = FACT_ORACLES.find((fact) => fact.table === 'fact_sales_order')!;
    // Orders that existed at the first run and were updated by the activity: from ToteSys alone.
    const updated = await totesys.sql<{ id: number }[]>`
      SELECT sales_order_id AS id FROM sales_order
      WHERE created_at < ${activityStart}::timestamp AND last_updated >= ${activityStart}::timestamp
      ORDER BY sales_order_id`;
    expect(updated.length).toBeGreaterThan(0);
    const picked = updated[0]!.id;
    const [before] = sourceAtFirstRun[sales.table]!.filter((row) => row.sales_order_id === String(picked));
    const [after] = sourceAtSecondRun[sales.table]!.filter((row) => row.sales_order_id === String(picked));
    expect(before).toBeDefined();
    expect(after).toBeDefined();

    const versions = await readCanonical(
      warehouse.sql,
      `SELECT * FROM fact_sales_order WHERE sales_order_id = ${picked} ORDER BY last_updated_date, last_updated_time`,
      sales.columns,
    );
    expect(versions).toHaveLength(2);
    expect(versions).toEqual([before, after]);

    // And every updated order, sale or purchase, has exactly two; an order placed by the activity has one.
    for (const [table, key, fact] of [
      ['sales_order', 'sales_order_id', 'fact_sales_order'],
      ['purchase_order', 'purchase_order_id', 'fact_purchase_order'],
    ] as const) {
      const expected = await totesys.sql.unsafe<{ id: number; versions: number }[]>(
        `SELECT ${key} AS id, CASE WHEN created_at < $1::timestamp AND last_updated >= $1::timestamp THEN 2 ELSE 1 END AS versions
         FROM ${table} ORDER BY 1`,
        [activityStart],
      );
      const actual = await warehouse.sql.unsafe<{ id: number; versions: number }[]>(
        `SELECT ${key} AS id, count(*)::int AS versions FROM ${fact} GROUP BY 1 ORDER BY 1`,
      );
      expect(actual).toEqual(expected.map((row) => ({ id: row.id, versions: row.versions })));
    }
  });

  it.each(DIMENSION_ORACLES.map((dimension) => [dimension.table, dimension] as const))(
    '%s equals its ToteSys source rebuilt by the warehouse rules, all rows and all columns',
    async (_table, dimension: OracleTable) => {
      const expected = await readSource(totesys.sql, dimension);
      const actual = await readWarehouse(warehouse.sql, dimension);
      expect(expected.length).toBeGreaterThan(0);
      expect(diffRows(expected, actual, dimension.key)).toEqual(noDifferences(expected.length));
    },
  );

  it('carries the address changes and department renames made between the runs into the dimensions', async () => {
    /** The rows of dimension `table` whose key is one of `changed` (at least one) equal their ToteSys source rebuilt by the warehouse rules. */
    const expectCarried = async (table: string, changed: { id: number }[]) => {
      const dimension = DIMENSION_ORACLES.find((oracle) => oracle.table === table)!;
      expect(changed.length).toBeGreaterThan(0);
      const isChanged = (row: CanonicalRow) => changed.some((c) => String(c.id) === row[dimension.key[0]!]);
      const expected = (await readSource(totesys.sql, dimension)).filter(isChanged);
      const actual = (await readWarehouse(warehouse.sql, dimension)).filter(isChanged);
      expect(diffRows(expected, actual, dimension.key)).toEqual(noDifferences(changed.length));
    };

    const moved = await totesys.sql<{ id: number }[]>`
      SELECT cp.counterparty_id AS id FROM counterparty cp JOIN address a ON a.address_id = cp.legal_address_id
      WHERE a.last_updated >= ${activityStart}::timestamp ORDER BY 1`;
    await expectCarried('dim_counterparty', moved);

    const renamed = await totesys.sql<{ id: number }[]>`
      SELECT s.staff_id AS id FROM staff s JOIN department d ON d.department_id = s.department_id
      WHERE d.last_updated >= ${activityStart}::timestamp ORDER BY 1`;
    await expectCarried('dim_staff', renamed);
  });

  it('dim_date is the gapless calendar from the earliest to the latest fact date, with its attributes', async () => {
    const dates = Object.entries(FACT_DATE_COLUMNS).flatMap(([fact, columns]) => columns.map((column) => `SELECT "${column}" AS d FROM ${fact}`));
    const [bounds] = await warehouse.sql.unsafe<{ first: string; last: string }[]>(
      `SELECT min(d)::text AS first, max(d)::text AS last FROM (${dates.join(' UNION ALL ')}) dates`,
    );
    // The facts' dates cover at least what ToteSys holds now (older versions may reach further).
    const sourceDates = [
      `SELECT created_at::date AS d FROM sales_order`, `SELECT last_updated::date FROM sales_order`,
      `SELECT agreed_payment_date::date FROM sales_order`, `SELECT agreed_delivery_date::date FROM sales_order`,
      `SELECT created_at::date FROM purchase_order`, `SELECT last_updated::date FROM purchase_order`,
      `SELECT agreed_payment_date::date FROM purchase_order`, `SELECT agreed_delivery_date::date FROM purchase_order`,
      `SELECT created_at::date FROM payment`, `SELECT last_updated::date FROM payment`, `SELECT payment_date::date FROM payment`,
    ];
    const [source] = await totesys.sql.unsafe<{ first: string; last: string }[]>(
      `SELECT min(d)::text AS first, max(d)::text AS last FROM (${sourceDates.join(' UNION ALL ')}) dates`,
    );
    expect(bounds!.first <= source!.first).toBe(true);
    expect(bounds!.last >= source!.last).toBe(true);
    expect(bounds!.last >= activityStart.slice(0, 10)).toBe(true);

    const expected = calendar(bounds!.first, bounds!.last);
    const actual = await readCanonical(warehouse.sql, `SELECT * FROM dim_date`, DIM_DATE_COLUMNS);
    expect(diffRows(expected, actual, ['date_id'])).toEqual(noDifferences(expected.length));
  });

  it('a third run with no changes in ToteSys loads nothing and leaves the warehouse as it was', async () => {
    const before = await dumpWarehouse(warehouse.sql);
    const third = await runPipeline();
    expect(third.extract.batchId).toBeNull();
    expect(third.transform.transformedBatchIds).toEqual([]);
    expect(third.load.loadedBatchIds).toEqual([]);
    expect(third.load.upToBatchId).toBe('0000000002');
    expect(await dumpWarehouse(warehouse.sql)).toEqual(before);
  });

  it('loading the same batch again changes nothing', async () => {
    const before = await dumpWarehouse(warehouse.sql);
    const again = await loadPendingBatches(lake.loadDeps);
    expect(again.loadedBatchIds).toEqual([]);
    expect(again.upToBatchId).toBe('0000000002');
    expect(await loadBatch(lake.loadDeps, '0000000002')).toBeUndefined();
    expect(await loadBatch(lake.loadDeps, '0000000001')).toBeUndefined();
    expect(await dumpWarehouse(warehouse.sql)).toEqual(before);
  });

  it('re-applying the newest batch when the ledger has lost it writes no row and changes no table', async () => {
    const { 'pipeline.load_ledger': ledgerBefore, ...tablesBefore } = await dumpWarehouse(warehouse.sql);
    // As if the batch's ledger row were lost: Load applies the whole batch a second time.
    await warehouse.sql`DELETE FROM pipeline.load_ledger WHERE batch_id = '0000000002'`;
    const replay = await loadPendingBatches(lake.loadDeps);
    expect(replay.loadedBatchIds).toEqual(['0000000002']);
    expect(Object.keys(replay.rows).length).toBeGreaterThan(0);
    expect(Object.values(replay.rows).every((written) => written === 0)).toBe(true);

    const { 'pipeline.load_ledger': ledgerAfter, ...tablesAfter } = await dumpWarehouse(warehouse.sql);
    expect(tablesAfter).toEqual(tablesBefore);
    const batchIds = (ledger: string[]) => ledger.map((row) => row.split(',')[0]);
    expect(batchIds(ledgerAfter!)).toEqual(batchIds(ledgerBefore!));
  });
});
