import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { extractChangedRows } from '../../functions/extract/extract-changed-rows';
import { loadPendingBatches } from '../../functions/load/load-batches';
import { transformPendingBatches } from '../../functions/transform/transform-batches';
import { loadSample } from '../../scripts/totesys/sample';
import { createTotesysSchema } from '../../scripts/totesys/schema';
import { useTestDatabase } from '../support/database';
import { freshBucket, useLocalS3 } from '../support/local-s3';

/** The SQL blocks of the README's "Querying the warehouse" section, in order. */
function readmeQueries(): string[] {
  const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf-8');
  const start = readme.indexOf('## Querying the warehouse');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  return [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

/** A sales order as the sample fixture (tests/fixtures/totesys-sample) holds it. */
function sampleSalesOrder(id: number): { units_sold: number } {
  const lines = readFileSync(path.join(__dirname, '../fixtures/totesys-sample/sales_order.jsonl'), 'utf-8').split('\n').filter(Boolean);
  const order = lines.map((line) => JSON.parse(line) as { sales_order_id: number; units_sold: number }).find((row) => row.sales_order_id === id);
  if (!order) throw new Error(`The sample has no sales order ${id}`);
  return order;
}

describe('the README warehouse queries', () => {
  const totesys = useTestDatabase('readme_totesys');
  const warehouse = useTestDatabase('readme_warehouse');
  const lake = useLocalS3([]);
  let workRoot: string;

  beforeAll(async () => {
    workRoot = mkdtempSync(path.join(tmpdir(), 'readme-queries-'));
    const s3 = lake.client();
    const duckdb = { memoryLimitMb: 256, threads: 1, workRoot };
    const buckets = { ingestionBucket: await freshBucket(s3, 'ingestion'), processedBucket: await freshBucket(s3, 'processed') };
    await createTotesysSchema(totesys.sql);
    await loadSample(totesys.sql, path.join(__dirname, '../fixtures/totesys-sample'));
    await extractChangedRows({ totesys: totesys.sql, s3, ingestionBucket: buckets.ingestionBucket });
    await totesys.sql`UPDATE sales_order SET units_sold = 1, last_updated = now() WHERE sales_order_id = 42`;
    await totesys.sql`DELETE FROM sales_order WHERE sales_order_id = 7`;
    await extractChangedRows({ totesys: totesys.sql, s3, ingestionBucket: buckets.ingestionBucket });
    await transformPendingBatches({ s3, ...buckets, duckdb });
    await loadPendingBatches({ warehouse: warehouse.sql, s3, processedBucket: buckets.processedBucket, duckdb });
  });
  afterAll(() => rmSync(workRoot, { recursive: true, force: true }));

  it('has one query for current sales, one for a sale’s history and one per star schema', () => {
    expect(readmeQueries()).toHaveLength(6);
  });

  it('run as written and answer from the loaded warehouse', async () => {
    const [current, deleted, history, revenue, suppliers, payments] = await Promise.all(readmeQueries().map((query) => warehouse.sql.unsafe(query)));
    expect(current).toHaveLength(32);
    expect(current!.map((row) => row.sales_order_id)).not.toContain(7);
    expect(deleted!.map((row) => row.sales_order_id)).toEqual([7]);
    expect(current!.find((row) => row.sales_order_id === 42)).toMatchObject({ units_sold: 1 });
    // Two versions of order 42: as the sample delivered it, then the update above.
    expect(history!.map((row) => row.units_sold)).toEqual([sampleSalesOrder(42).units_sold, 1]);
    expect(revenue!.length).toBeGreaterThan(0);
    expect(Object.keys(revenue![0]!)).toEqual(['year', 'month', 'currency_code', 'revenue']);
    expect(suppliers!.length).toBeGreaterThan(0);
    expect(payments!.map((row) => row.payment_type_name)).toEqual(expect.arrayContaining(['SALES_RECEIPT', 'PURCHASE_PAYMENT']));
  });
});
