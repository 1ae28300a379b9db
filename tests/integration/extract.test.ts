import type { S3Client } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { extractChangedRows } from '../../functions/extract/extract-changed-rows';
import type { ExtractOutput } from '../../functions/shared/step-contract';
import { canPrefilterCurrent, committedXidsSql, extractionBounds, parseSnapshot } from '../../functions/extract/row-versions';
import { BatchConflictError, SchemaDriftError } from '../../functions/shared/errors';
import { readLatestManifest } from '../../functions/shared/batch-manifests';
import type { IngestionManifest } from '../../functions/shared/ingestion-manifest';
import { TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type TotesysTableName } from '../../functions/shared/totesys-tables';
import { loadSample } from '../../scripts/totesys/sample';
import { createTotesysSchema } from '../../scripts/totesys/schema';
import { useTestDatabase } from '../support/database';
import { freshBucket, listKeys, readJsonLines, useLocalS3 } from '../support/local-s3';

const SAMPLE_DIR = path.join(__dirname, '../fixtures/totesys-sample');
const sampleRows = (table: TotesysTableName): Record<string, unknown>[] =>
  readFileSync(path.join(SAMPLE_DIR, `${table}.jsonl`), 'utf-8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('extract', () => {
  const db = useTestDatabase('extract', { each: true });
  const lake = useLocalS3([]);
  let s3: S3Client;
  let bucket: string;

  beforeAll(() => {
    s3 = lake.client();
  });

  beforeEach(async () => {
    await createTotesysSchema(db.sql);
    await loadSample(db.sql, SAMPLE_DIR);
    bucket = await freshBucket(s3, 'ingestion');
  });

  const extract = (overrides: { s3?: S3Client; totesys?: postgres.Sql } = {}): Promise<ExtractOutput> =>
    extractChangedRows({ totesys: overrides.totesys ?? db.sql, s3: overrides.s3 ?? s3, ingestionBucket: bucket });

  /** Every extracted row of `table` in a batch, parsed. */
  async function batchRows(batchId: string, table: TotesysTableName): Promise<Record<string, unknown>[]> {
    const keys = await listKeys(s3, bucket, `tables/${table}/batch-${batchId}/`);
    const manifest = await readLatestManifest<IngestionManifest>(s3, bucket);
    const committedKey = manifest && manifest.batchId === batchId ? manifest.tables[table]?.key : undefined;
    const key = committedKey ?? keys[0];
    if (!key) return [];
    return (await readJsonLines(s3, bucket, key)).map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  it('reads every row of every table on the first run, values exactly as stored', async () => {
    const result = await extract();

    expect(result.batchId).toBe('0000000001');
    expect(result.upToBatchId).toBe('0000000001');
    for (const table of TOTESYS_TABLE_NAMES) expect(result.rows[table]).toBe(sampleRows(table).length);
    expect(result.totalRows).toBe(294);

    const [sale] = sampleRows('sales_order').filter((row) => row.sales_order_id === 2);
    const [extracted] = (await batchRows('0000000001', 'sales_order')).filter((row) => row.sales_order_id === 2);
    // Same columns, same values: numerics exact, timestamps to the millisecond, text dates untouched.
    expect(Object.keys(extracted!).sort()).toEqual(Object.keys(sale!).sort());
    for (const [column, value] of Object.entries(sale!)) expect(String(extracted![column])).toBe(String(value));
    expect(extracted!.last_updated).toBe('2022-11-03T14:20:52.186');
    expect(extracted!.agreed_delivery_date).toBe('2022-11-07');
  });

  it('writes numerics as the exact decimal text PostgreSQL holds, not a rounded float', async () => {
    await db.sql`UPDATE payment SET payment_amount = 12345678.10, last_updated = '2024-01-01 10:00:00.120' WHERE payment_id = 2`;
    await extract();
    const manifest = await readLatestManifest<IngestionManifest>(s3, bucket);
    const lines = await readJsonLines(s3, bucket, manifest!.tables.payment!.key);
    const line = lines.find((l) => l.includes('"payment_id":2,'));
    expect(line).toContain('"payment_amount":12345678.10');
    expect(line).toContain('"last_updated":"2024-01-01T10:00:00.12"');
  });

  it('reads only what changed since the last batch, and writes nothing when nothing changed', async () => {
    await extract();
    const idle = await extract();
    expect(idle).toEqual({ batchId: null, manifestKey: null, upToBatchId: '0000000001', rows: {}, deleted: {}, totalRows: 0 });
    expect(await listKeys(s3, bucket, 'manifests/')).toHaveLength(1);

    await db.sql`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = '2023-02-01 09:00:00.000' WHERE sales_order_id = 3`;
    await db.sql`UPDATE address SET city = 'Leeds', last_updated = '2023-02-01 09:00:00.000' WHERE address_id = 1`;
    const second = await extract();

    expect(second.batchId).toBe('0000000002');
    expect(second.rows).toEqual({ sales_order: 1, address: 1 });
    const [order] = await batchRows('0000000002', 'sales_order');
    expect(order).toMatchObject({ sales_order_id: 3, units_sold: 65840, last_updated: '2023-02-01T09:00:00' });
    expect(await listKeys(s3, bucket, 'tables/currency/')).toHaveLength(1);
  });

  it('misses none and repeats none of many rows sharing one last_updated across a run boundary', async () => {
    const stamp = '2023-05-05 12:00:00.000';
    const insertDesigns = (from: number, count: number) =>
      db.sql`INSERT INTO design (design_id, design_name, file_location, file_name, created_at, last_updated)
             SELECT g, 'Steel', '/usr', 'steel-' || g || '.json', ${stamp}, ${stamp} FROM generate_series(${from}::int, ${from + count - 1}::int) g`;
    await insertDesigns(1000, 100);
    const first = await extract();
    await insertDesigns(2000, 100);
    const second = await extract();

    const firstIds = (await batchRows(first.batchId!, 'design')).map((row) => row.design_id as number);
    const secondIds = (await batchRows(second.batchId!, 'design')).map((row) => row.design_id as number);
    expect(firstIds.filter((id) => id >= 1000)).toHaveLength(100);
    expect(secondIds.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => 2000 + i));
  });

  describe('a transaction that commits after a later-stamped row was extracted (the late commit)', () => {
    for (const viaSavepoint of [false, true]) {
      it(`lands in the next batch exactly once${viaSavepoint ? ' when written in a subtransaction' : ''}`, async () => {
        const late = postgres(db.url, { max: 1, onnotice: () => {} });
        const reserved = await late.reserve();
        try {
          await reserved`BEGIN`;
          if (viaSavepoint) await reserved`SAVEPOINT write_order`;
          await reserved`UPDATE sales_order SET units_sold = 1, last_updated = '2023-03-01 08:00:00.000' WHERE sales_order_id = 2`;
          if (viaSavepoint) await reserved`RELEASE SAVEPOINT write_order`;
          // A second session stamps a later time and commits first.
          await db.sql`UPDATE sales_order SET units_sold = 2, last_updated = '2023-03-01 09:00:00.000' WHERE sales_order_id = 3`;

          const before = await extract();
          const beforeIds = (await batchRows(before.batchId!, 'sales_order')).map((row) => [row.sales_order_id, row.units_sold]);
          expect(beforeIds).toContainEqual([3, 2]);
          expect(beforeIds).toContainEqual([2, 42972]);

          await reserved`COMMIT`;
          const after = await extract();
          expect(after.rows).toEqual({ sales_order: 1 });
          const [row] = await batchRows(after.batchId!, 'sales_order');
          expect(row).toMatchObject({ sales_order_id: 2, units_sold: 1, last_updated: '2023-03-01T08:00:00' });
        } finally {
          reserved.release();
          await late.end();
        }
      });
    }
  });

  it("takes a first batch's committed ids from the rows its COPY read: exactly the ids a second scan of every table finds", async () => {
    const late = postgres(db.url, { max: 1, onnotice: () => {} });
    const open = await late.reserve();
    try {
      // An open transaction holds the snapshot's xmin down, so the writes committed after it are at or above it.
      await open`BEGIN`;
      await open`UPDATE staff SET first_name = 'Late', last_updated = '2023-04-01 08:00:00' WHERE staff_id = 1`;
      await db.sql`UPDATE sales_order SET units_sold = 5, last_updated = '2023-04-01 09:00:00' WHERE sales_order_id = 4`;
      await db.sql`UPDATE payment SET payment_amount = 10.00, last_updated = '2023-04-01 09:00:00' WHERE payment_id = 4`;
      await extract();
      const manifest = (await readLatestManifest<IngestionManifest>(s3, bucket))!;
      const scanned = await db.sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
        const [{ snapshot }] = (await tx`SELECT pg_current_snapshot()::text AS snapshot`) as unknown as [{ snapshot: string }];
        const current = parseSnapshot(snapshot);
        for (const [name, value] of Object.entries(extractionBounds(current, undefined))) await tx`SELECT set_config(${name}, ${value}, true)`;
        return (await tx.unsafe(committedXidsSql(Object.values(TOTESYS_TABLES), canPrefilterCurrent(current)))).map((row) => String(row.id));
      });
      expect(scanned.length).toBeGreaterThanOrEqual(2);
      expect(manifest.state.committedXids).toEqual(scanned);
    } finally {
      await open`ROLLBACK`;
      open.release();
      await late.end();
    }
  });

  it("works out a batch's committed ids from the rows it extracted: every id a scan of all tables finds, and nothing P had not seen", async () => {
    /** The ids at or above the snapshot's xmin of the writers of the rows visible now, by reading every table. */
    const scannedIds = async (): Promise<{ xmin: bigint; ids: string[] }> =>
      db.sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
        const [{ snapshot }] = (await tx`SELECT pg_current_snapshot()::text AS snapshot`) as unknown as [{ snapshot: string }];
        const current = parseSnapshot(snapshot);
        for (const [name, value] of Object.entries(extractionBounds(current, undefined))) await tx`SELECT set_config(${name}, ${value}, true)`;
        const rows = await tx.unsafe(committedXidsSql(Object.values(TOTESYS_TABLES), canPrefilterCurrent(current)));
        return { xmin: current.xmin, ids: rows.map((row) => String(row.id)) };
      });
    const late = postgres(db.url, { max: 1, onnotice: () => {} });
    const open = await late.reserve();
    try {
      await extract();
      // A transaction left open holds every later snapshot's xmin down, so ids carry from batch to batch.
      await open`BEGIN`;
      await open`UPDATE staff SET first_name = 'Late', last_updated = '2023-04-01 08:00:00' WHERE staff_id = 1`;
      await db.sql`UPDATE sales_order SET units_sold = 5, last_updated = '2023-04-01 09:00:00' WHERE sales_order_id = 4`;
      await db.sql`UPDATE payment SET payment_amount = 10.00, last_updated = '2023-04-01 09:00:00' WHERE payment_id = 4`;
      const states: IngestionManifest['state'][] = [];
      const batch = async (): Promise<void> => {
        await extract();
        const manifest = (await readLatestManifest<IngestionManifest>(s3, bucket))!;
        const previous = states.at(-1);
        states.push(manifest.state);
        const scanned = await scannedIds();
        expect(scanned.xmin).toBe(parseSnapshot(manifest.state.snapshot).xmin);
        const derived = new Set(manifest.state.committedXids);
        for (const id of scanned.ids) expect(derived).toContain(id);
        // Beyond what a scan finds, only ids the previous batch had seen (their rows overwritten since).
        for (const id of derived) if (!scanned.ids.includes(id)) expect(previous?.committedXids).toContain(id);
      };
      await batch();
      expect(states[0]!.committedXids.length).toBeGreaterThanOrEqual(2);
      // Overwrites the row of one of those ids: the next batch still carries it.
      await db.sql`UPDATE sales_order SET units_sold = 6, last_updated = '2023-04-01 10:00:00' WHERE sales_order_id = 4`;
      await batch();
      await open`COMMIT`;
      await batch();
      const lastBatch = (await readLatestManifest<IngestionManifest>(s3, bucket))!;
      expect(Object.keys(lastBatch.tables)).toEqual(['staff']);
      expect((await extract()).batchId).toBeNull();
    } finally {
      open.release();
      await late.end();
    }
  });

  it('includes every change committed before the run starts, with no delay', async () => {
    await extract();
    await db.sql`UPDATE currency SET currency_code = 'CHF', last_updated = now() WHERE currency_id = 3`;
    const result = await extract();
    expect(result.rows).toEqual({ currency: 1 });
  });

  it('leaves the state unchanged when it crashes between upload and commit, and a re-run commits the batch once', async () => {
    const failing = lake.client();
    failing.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: string };
        if (context.commandName === 'PutObjectCommand' && input.Key?.startsWith('manifests/')) throw new Error('injected crash before commit');
        return next(args);
      },
      { step: 'initialize', name: 'crashBeforeCommit' },
    );
    await expect(extract({ s3: failing })).rejects.toThrow('injected crash before commit');
    expect(await readLatestManifest<IngestionManifest>(s3, bucket)).toBeUndefined();
    const orphans = await listKeys(s3, bucket, 'tables/');
    expect(orphans).toHaveLength(11);

    const rerun = await extract();
    expect(rerun.batchId).toBe('0000000001');
    expect(rerun.totalRows).toBe(294);
    const manifest = await readLatestManifest<IngestionManifest>(s3, bucket);
    for (const table of Object.values(manifest!.tables)) expect(orphans).not.toContain(table.key);
    expect(await extract()).toMatchObject({ batchId: null, totalRows: 0 });
  });

  it('commits a batch once when two extracts race for it; the loser fails with a retryable conflict', async () => {
    const other = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const outcomes = await Promise.allSettled([extract(), extract({ totesys: other })]);
      const committed = outcomes.filter((o) => o.status === 'fulfilled');
      const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(committed).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]!.reason).toBeInstanceOf(BatchConflictError);
      expect(await listKeys(s3, bucket, 'manifests/')).toHaveLength(1);
      expect(await extract()).toMatchObject({ batchId: null });
    } finally {
      await other.end();
    }
  });

  it('says a database with none of the ToteSys tables is not ToteSys, and how to make one, writing nothing', async () => {
    for (const table of TOTESYS_TABLE_NAMES) await db.sql.unsafe(`DROP TABLE "${table}" CASCADE`);
    const failure = extract();
    await expect(failure).rejects.toBeInstanceOf(SchemaDriftError);
    await expect(failure).rejects.toThrow(/ToteSys database \S+ has none of the 11 ToteSys tables .*TOTESYS_DATABASE_URL.*npm run seed/);
    expect(await listKeys(s3, bucket)).toEqual([]);
  });

  describe('schema drift is detected before anything is written', () => {
    const cases: [string, string, RegExp][] = [
      ['a column added', 'ALTER TABLE staff ADD COLUMN nickname text', /staff\.nickname \(text\) was added/],
      ['a column dropped', 'ALTER TABLE design DROP COLUMN file_location', /design\.file_location was dropped/],
      ['a column retyped', 'ALTER TABLE sales_order ALTER COLUMN unit_price TYPE numeric(12,3)', /sales_order\.unit_price is numeric\(12,3\), expected numeric\(10,2\)/],
      ['a table missing', 'DROP TABLE payment', /table payment is missing/],
    ];
    for (const [label, ddl, message] of cases) {
      it(`fails on ${label}, naming it, and leaves the lake and the state as they were`, async () => {
        await extract();
        await db.sql`UPDATE sales_order SET units_sold = 5, last_updated = now() WHERE sales_order_id = 2`;
        await db.sql.unsafe(ddl);
        const before = await listKeys(s3, bucket);

        const failure = extract();
        await expect(failure).rejects.toBeInstanceOf(SchemaDriftError);
        await expect(failure).rejects.toThrow(message);
        expect(await listKeys(s3, bucket)).toEqual(before);
        expect((await readLatestManifest<IngestionManifest>(s3, bucket))!.batchId).toBe('0000000001');
      });
    }
  });
});
