import { extractChangedRows } from '../../functions/extract/extract-changed-rows';
import { emptyWarehouse } from '../../functions/load/lineage';
import { loadPendingBatches } from '../../functions/load/load-batches';
import { transformPendingBatches } from '../../functions/transform/transform-batches';
import { useTestDatabase } from '../support/database';
import { dumpWarehouseContent, seedSampleTotesys, useTestLake } from '../support/local-pipeline';
import { DIMENSION_ORACLES, diffRows, noDifferences, readCanonical, readSource, readWarehouse, FACT_ORACLES } from '../support/warehouse-oracle';

/**
 * "Succeeded" means the warehouse equals ToteSys (docs/trust.md): changes the application makes
 * without touching last_updated, deletions, and a lake that is not the warehouse's.
 */
describe('trust: every source change reaches the warehouse', () => {
  const totesys = useTestDatabase('trust_totesys', { each: true });
  const warehouse = useTestDatabase('trust_warehouse', { each: true });
  const otherTotesys = useTestDatabase('trust_other_totesys', { each: true });
  const lake = useTestLake('trust', { warehouse });

  beforeEach(async () => {
    await lake.fresh();
    await seedSampleTotesys(totesys.sql);
  });

  const run = (source = totesys.sql) => lake.runPipeline(source);

  const versionsOf = async (salesOrderId: number) =>
    warehouse.sql<{ units_sold: number }[]>`SELECT units_sold FROM fact_sales_order WHERE sales_order_id = ${salesOrderId} ORDER BY sales_record_id`;

  it('stores a fact edit that left last_updated alone as a new, current version', async () => {
    await run();
    const [before] = await totesys.sql<{ units_sold: number; last_updated: string }[]>`SELECT units_sold, last_updated::text FROM sales_order WHERE sales_order_id = 2`;
    await totesys.sql`UPDATE sales_order SET units_sold = units_sold + 7 WHERE sales_order_id = 2`;
    const second = await run();
    expect(second.load.rows).toEqual({ fact_sales_order: 1 });
    expect((await versionsOf(2)).map((v) => v.units_sold)).toEqual([before!.units_sold, before!.units_sold + 7]);
    const [current] = await warehouse.sql<{ units_sold: number; stamp: string }[]>`
      SELECT units_sold, (last_updated_date + last_updated_time)::text AS stamp FROM current_sales_order WHERE sales_order_id = 2`;
    expect(current).toEqual({ units_sold: before!.units_sold + 7, stamp: before!.last_updated });
  });

  it('stores the same content extracted twice once, and a run with no change changes nothing', async () => {
    await run();
    await totesys.sql`UPDATE sales_order SET units_sold = units_sold WHERE sales_order_id = 3`;
    const rewrite = await run();
    expect(rewrite.extract.rows).toEqual({ sales_order: 1 });
    expect(rewrite.load.loadedBatchIds).toEqual(['0000000002']);
    expect(rewrite.load.rows).toEqual({ fact_sales_order: 0 });
    expect(await versionsOf(3)).toHaveLength(1);

    const before = await dumpWarehouseContent(warehouse.sql);
    const idle = await run();
    expect(idle.extract.batchId).toBeNull();
    expect(idle.load.loadedBatchIds).toEqual([]);
    expect(await dumpWarehouseContent(warehouse.sql)).toEqual(before);
  });

  it('carries a silent edit of every kind of dimension source to its dimensions', async () => {
    await run();
    await totesys.sql.unsafe(`
      UPDATE address SET city = 'Silent City' WHERE address_id = (SELECT legal_address_id FROM counterparty ORDER BY counterparty_id LIMIT 1);
      UPDATE department SET department_name = 'Silent Department' WHERE department_id = (SELECT department_id FROM staff ORDER BY staff_id LIMIT 1);
      UPDATE staff SET last_name = 'Silent' WHERE staff_id = (SELECT max(staff_id) FROM staff);
      UPDATE counterparty SET counterparty_legal_name = 'Silent Ltd' WHERE counterparty_id = (SELECT max(counterparty_id) FROM counterparty);
      UPDATE currency SET currency_code = 'JPY' WHERE currency_id = (SELECT max(currency_id) FROM currency);
      UPDATE design SET design_name = 'Silent design' WHERE design_id = (SELECT min(design_id) FROM design);
      UPDATE transaction SET transaction_type = 'PURCHASE', sales_order_id = NULL, purchase_order_id = NULL WHERE transaction_id = (SELECT min(transaction_id) FROM transaction);
    `);
    await run();
    for (const dimension of DIMENSION_ORACLES.filter((d) => d.table !== 'dim_currency')) {
      const expected = await readSource(totesys.sql, dimension);
      expect({ table: dimension.table, ...diffRows(expected, await readWarehouse(warehouse.sql, dimension), dimension.key) }).toEqual({
        table: dimension.table,
        ...noDifferences(expected.length),
      });
    }
    const [yen] = await warehouse.sql`SELECT currency_code, currency_name FROM dim_currency WHERE currency_id = (SELECT max(currency_id) FROM dim_currency)`;
    expect(yen).toEqual({ currency_code: 'JPY', currency_name: 'Japanese Yen' });
    expect((await warehouse.sql`SELECT count(*)::int AS n FROM dim_staff WHERE department_name = 'Silent Department'`)[0]!.n).toBeGreaterThan(0);
    expect((await warehouse.sql`SELECT count(*)::int AS n FROM dim_counterparty WHERE counterparty_legal_city = 'Silent City'`)[0]!.n).toBe(1);
  });

  it('takes a deleted fact row out of the current state, keeps its history, and records when the deletion was seen', async () => {
    await run();
    const [unusedDesign] = await totesys.sql<{ id: number }[]>`SELECT min(design_id) AS id FROM design WHERE design_id NOT IN (SELECT design_id FROM sales_order)`;
    await totesys.sql`DELETE FROM sales_order WHERE sales_order_id = 7`;
    await totesys.sql`DELETE FROM design WHERE design_id = ${unusedDesign!.id}`;
    const second = await run();
    expect(second.extract.deleted).toEqual({ sales_order: 1, design: 1 });
    // ON DELETE SET NULL: the sale's transaction changed with it.
    expect(second.extract.rows).toEqual({ transaction: 1 });
    expect(second.load.rows).toMatchObject({ source_row_deletions: 2, dim_transaction: 1 });

    expect(await warehouse.sql`SELECT 1 FROM current_sales_order WHERE sales_order_id = 7`).toHaveLength(0);
    expect(await versionsOf(7)).toHaveLength(1);
    expect(await warehouse.sql`SELECT 1 FROM dim_design WHERE design_id = ${unusedDesign!.id}`).toHaveLength(1);
    const deletions = await warehouse.sql<{ source_table: string; source_key: number; batch_id: string; seen: boolean }[]>`
      SELECT source_table, source_key, batch_id, deleted_seen_at BETWEEN now() - interval '5 minutes' AND now() AS seen
      FROM source_row_deletions ORDER BY source_table`;
    expect(deletions).toEqual([
      { source_table: 'design', source_key: unusedDesign!.id, batch_id: '0000000002', seen: true },
      { source_table: 'sales_order', source_key: 7, batch_id: '0000000002', seen: true },
    ]);
    // Every current fact equals ToteSys: one row per source row that exists now.
    for (const fact of FACT_ORACLES) {
      const expected = await readSource(totesys.sql, fact);
      const actual = await readCanonical(warehouse.sql, `SELECT * FROM ${fact.table.replace('fact_', 'current_')}`, fact.columns);
      expect(diffRows(expected, actual, fact.key)).toEqual(noDifferences(expected.length));
    }

    // The key comes back: its new version is current again, the deletion stays on record.
    const [sale3] = await totesys.sql`SELECT * FROM sales_order WHERE sales_order_id = 3`;
    await totesys.sql`INSERT INTO sales_order ${totesys.sql({ ...sale3, sales_order_id: 7 } as Record<string, unknown>)}`;
    await run();
    expect(await warehouse.sql`SELECT 1 FROM current_sales_order WHERE sales_order_id = 7`).toHaveLength(1);
    expect(await versionsOf(7)).toHaveLength(2);
  });

  it('finds deletions scattered across a table by counting intervals, whatever their number', async () => {
    await run();
    const [{ rows }] = (await totesys.sql`SELECT count(*)::int AS rows FROM payment`) as unknown as [{ rows: number }];
    await totesys.sql`DELETE FROM payment WHERE payment_id % 5 = 0 OR payment_id = 1`;
    const second = await run();
    const [{ left }] = (await totesys.sql`SELECT count(*)::int AS left FROM payment`) as unknown as [{ left: number }];
    expect(second.extract.deleted).toEqual({ payment: rows - left });
    const recorded = await warehouse.sql<{ source_key: number }[]>`SELECT source_key FROM source_row_deletions WHERE source_table = 'payment' ORDER BY 1`;
    const gone = await warehouse.sql<{ payment_id: number }[]>`SELECT payment_id FROM fact_payment EXCEPT SELECT payment_id FROM current_payment ORDER BY 1`;
    expect(recorded.map((r) => r.source_key)).toEqual(gone.map((r) => r.payment_id));
    expect(recorded[0]!.source_key).toBe(1);
    expect(recorded.every((r) => r.source_key === 1 || r.source_key % 5 === 0)).toBe(true);
  });

  it('refuses to load a reset lake into a warehouse loaded from another, and rebuilds from it on request', async () => {
    await run();
    await totesys.sql`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = last_updated + interval '1 second' WHERE sales_order_id = 2`;
    expect((await run()).load.loadedBatchIds).toEqual(['0000000002']);
    await lake.fresh();
    await extractChangedRows(lake.extractDeps(totesys.sql));
    await transformPendingBatches(lake.transformDeps);
    const before = await dumpWarehouseContent(warehouse.sql);
    const refusal = loadPendingBatches(lake.loadDeps);
    await expect(refusal).rejects.toMatchObject({ name: 'PipelineStateError' });
    const message = ((await refusal.catch((error: Error) => error)) as Error).message;
    expect(message).toMatch(/^The warehouse was loaded from lake [0-9a-f-]{36} \(database test_trust_totesys_\w+ \(oid \d+.*\), ingestion s3:\/\/trust-ingestion-[^,]+, processed s3:\/\/trust-processed-[^)]+\), up to batch 0000000002, but the processed bucket s3:\/\/trust-processed-\S+ holds batches of lake [0-9a-f-]{36} /);
    expect(message).toContain('point WAREHOUSE_DATABASE_URL (in AWS, the warehouse secret) at an empty database');
    expect(message).toContain('npm run rebuild-warehouse -- --yes');
    expect(await dumpWarehouseContent(warehouse.sql)).toEqual(before);

    await emptyWarehouse(warehouse.sql);
    const rebuilt = await loadPendingBatches(lake.loadDeps);
    expect(rebuilt.loadedBatchIds).toEqual(['0000000001']);
    for (const fact of FACT_ORACLES) {
      const expected = await readSource(totesys.sql, fact);
      expect(diffRows(expected, await readWarehouse(warehouse.sql, fact), fact.key)).toEqual(noDifferences(expected.length));
    }
  });

  it('refuses a ToteSys that is not the database the lake was extracted from', async () => {
    await run();
    await seedSampleTotesys(otherTotesys.sql);
    await expect(extractChangedRows(lake.extractDeps(otherTotesys.sql))).rejects.toMatchObject({
      name: 'PipelineStateError',
      message: expect.stringMatching(
        /^The ingestion bucket trust-ingestion-\S+ is lake [0-9a-f-]{36}, extracted from ToteSys database test_trust_totesys_\w+ \(oid \d+.*\), but TOTESYS points at database test_trust_other_totesys_\w+ .*Ways out: point TOTESYS_DATABASE_URL/,
      ),
    });
  });
});
