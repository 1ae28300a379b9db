/**
 * What Transform does with bad input, and with its temp space, on real DuckDB and the local S3 server.
 *
 * The strict policy these tests pin (PIPELINE_STRICT_ROWS=true; by default a bad row is held in
 * quarantine instead: tests/integration/quarantine.test.ts):
 *  - A bad ingestion batch FAILS AS A WHOLE with a `BadInputError` (name 'BadInputError', so the
 *    state machine does not retry it). For a bad value or line, its message names the table, the
 *    object (s3://bucket/key), the 1-based line and the field. For a reference to a key that no
 *    batch has delivered, it names the table, the row's key, the reference (`staff_id=999`) and the
 *    batch. For a row count that disagrees with the manifest, it names the table, the object and
 *    both counts.
 *  - NOTHING of a failed batch becomes visible to Load: the processed bucket gets no manifest for
 *    it, and the previous processed manifest (or none) is still the latest. Re-running without a
 *    fix fails the same way and still commits nothing; batches before it stay committed.
 *  - Once the input is fixed, a later transform of the same batch works. (Ingestion buckets are
 *    append-only, so a committed batch cannot be rewritten in place: here the fixed batch is
 *    written to a fresh ingestion bucket and Transform is pointed at it, with the same processed
 *    bucket, which is what matters: the failed attempt must have left nothing there in the way.)
 *  - The session's temp folder under `workRoot` is removed after a successful AND a failed transform.
 *
 * The batches are written here directly (gzipped JSONL objects plus a committed manifest), no
 * ToteSys involved. The base batch is the real sample in tests/fixtures/totesys-sample, whose
 * numerics are strings ("3.94"); its payment amounts are rewritten as JSON number literals
 * (552548.62), the form Extract writes, so the valid batch holds both. Each test corrupts one
 * thing, and its expected line and field are the ones it corrupted, written out by hand.
 *
 * The rules are SQL (functions/transform/models/macros/row_rules.sql), run by the staging models
 * both to check a batch and, when a row breaks one, to name its line and field: a value the
 * check rejects is always named, whatever DuckDB's own casts would make of it.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { commitManifest, newAttemptId, readLatestManifest } from '../../functions/shared/batch-manifests';
import { BadInputError } from '../../functions/shared/errors';
import { ingestionObjectKey, type IngestedTable, type IngestionManifest } from '../../functions/shared/ingestion-manifest';
import type { ProcessedManifest } from '../../functions/shared/processed-manifest';
import { TOTESYS_TABLE_NAMES, type TotesysTableName } from '../../functions/shared/totesys-tables';
import { DEFAULT_ROW_POLICY, readHeldRows } from '../../functions/shared/quarantine';
import { transformPendingBatches, type TransformDependencies } from '../../functions/transform/transform-batches';
import { freshBucket, listKeys, useLocalS3 } from '../support/local-s3';
import { readParquetRows } from '../support/parquet';

const NOTHING_HELD = { held: 0, added: 0, released: 0, closed: 0, rows: [], message: '' };

const SAMPLE_DIR = path.join(__dirname, '../fixtures/totesys-sample');
const BATCH_1 = '0000000001';
const BATCH_2 = '0000000002';
/** Manifest keys, written out: `manifests/<9999999999 - n>_batch-<n>.json`. */
const MANIFEST_1 = 'manifests/9999999998_batch-0000000001.json';
const MANIFEST_2 = 'manifests/9999999997_batch-0000000002.json';

/** Raw JSONL lines per table: what a batch's objects will hold. */
type BatchLines = Partial<Record<TotesysTableName, string[]>>;
type Row = Record<string, unknown>;

/** The whole real sample as one batch (294 rows; 33 sales orders), payment amounts as JSON numbers. */
function sampleBatch(): BatchLines {
  const batch: BatchLines = {};
  for (const table of TOTESYS_TABLE_NAMES) {
    batch[table] = readFileSync(path.join(SAMPLE_DIR, `${table}.jsonl`), 'utf-8').trim().split('\n');
  }
  batch.payment = batch.payment!.map((line) => {
    const rewritten = line.replace(/"payment_amount": "(\d+\.\d\d)"/, '"payment_amount": $1');
    if (rewritten === line) throw new Error(`fixture payment line has no string payment_amount: ${line}`);
    return rewritten;
  });
  return batch;
}

/** The batch with line `line` (1-based) of `table` edited as a parsed row. */
function withRow(batch: BatchLines, table: TotesysTableName, line: number, edit: (row: Row) => void): BatchLines {
  const lines = [...batch[table]!];
  const row = JSON.parse(lines[line - 1]!) as Row;
  edit(row);
  lines[line - 1] = JSON.stringify(row);
  return { ...batch, [table]: lines };
}

/** The batch with line `line` (1-based) of `table` replaced by raw text. */
function withLineText(batch: BatchLines, table: TotesysTableName, line: number, text: (original: string) => string): BatchLines {
  const lines = [...batch[table]!];
  lines[line - 1] = text(lines[line - 1]!);
  return { ...batch, [table]: lines };
}

/**
 * Writes an ingestion batch the way Extract commits one: every table's object first, the manifest
 * last. `rows` overrides a table's row count in the manifest. Returns the object key of each table.
 */
async function writeIngestionBatch(
  s3: S3Client,
  bucket: string,
  batchId: string,
  batch: BatchLines,
  options: { rows?: Partial<Record<TotesysTableName, number>> } = {},
): Promise<Record<TotesysTableName, string>> {
  const attemptId = newAttemptId();
  const tables: Partial<Record<TotesysTableName, IngestedTable>> = {};
  const keys = {} as Record<TotesysTableName, string>;
  let totalRows = 0;
  for (const [table, lines] of Object.entries(batch) as [TotesysTableName, string[]][]) {
    const key = ingestionObjectKey(table, batchId, attemptId);
    const body = gzipSync(`${lines.join('\n')}\n`);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/x-ndjson', ContentEncoding: 'gzip' }));
    tables[table] = { key, rows: options.rows?.[table] ?? lines.length, bytes: body.length };
    keys[table] = key;
    totalRows += lines.length;
  }
  const sequence = Number(batchId);
  const manifest: IngestionManifest = {
    formatVersion: 1,
    batchId,
    previousBatchId: sequence > 1 ? String(sequence - 1).padStart(10, '0') : null,
    attemptId,
    lake: { lakeId: 'hand-made-lake', source: 'a hand-made batch' },
    extractedAt: new Date().toISOString(),
    range: { from: sequence > 1 ? '1:1:' : null, to: '1:1:' },
    state: { snapshot: '1:1:', committedXids: [], keySetsKey: 'keys/none' },
    tables,
    totalRows,
    deletions: {},
    totalDeletions: 0,
  };
  await commitManifest(s3, bucket, manifest);
  return keys;
}

/** The error a transform failed with; fails the test when it succeeded. */
async function failureOf(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the transform to fail with a BadInputError, but it succeeded');
}

/** The line numbers a message names ("line 5"): exactly one is expected. */
const linesNamed = (message: string): number[] => [...message.matchAll(/\bline (\d+)\b/g)].map((m) => Number(m[1]));

function expectBadInput(error: Error, expected: { table: string; object: string; line?: number; field?: string }): void {
  expect(error).toBeInstanceOf(BadInputError);
  expect(error.name).toBe('BadInputError');
  expect(error.message).toMatch(new RegExp(`\\btable ${expected.table}\\b`));
  expect(error.message).toContain(expected.object);
  if (expected.line !== undefined) expect(linesNamed(error.message)).toEqual([expected.line]);
  if (expected.field !== undefined) expect(error.message).toMatch(new RegExp(`\\bfield ${expected.field}\\b`));
}

describe('transform of bad input', () => {
  const lake = useLocalS3([]);
  let s3: S3Client;
  let ingestion: string;
  let processed: string;
  let workRoot: string;

  beforeAll(() => {
    s3 = lake.client();
  });

  beforeEach(async () => {
    ingestion = await freshBucket(s3, 'ingestion');
    processed = await freshBucket(s3, 'processed');
    workRoot = mkdtempSync(path.join(tmpdir(), 'transform-work-'));
  });

  afterEach(() => {
    rmSync(workRoot, { recursive: true, force: true });
  });

  const deps = (overrides: Partial<TransformDependencies> = {}): TransformDependencies => ({
    s3,
    ingestionBucket: ingestion,
    processedBucket: processed,
    duckdb: { memoryLimitMb: 256, threads: 1, workRoot },
    rows: { ...DEFAULT_ROW_POLICY, strict: true },
    ...overrides,
  });
  const object = (key: string) => `s3://${ingestion}/${key}`;

  /** What Load can see: the processed manifests are exactly `manifests`, and the latest is `latest`. */
  async function expectCommitted(manifests: string[], latest?: string): Promise<void> {
    expect(await listKeys(s3, processed, 'manifests/')).toEqual(manifests);
    expect((await readLatestManifest<ProcessedManifest>(s3, processed))?.batchId).toBe(latest);
  }

  /** Writes `batch` as batch 1, expects its transform to fail, and that nothing was committed. */
  async function failsAsBatch1(batch: BatchLines, options: { rows?: Partial<Record<TotesysTableName, number>> } = {}) {
    const keys = await writeIngestionBatch(s3, ingestion, BATCH_1, batch, options);
    const error = await failureOf(transformPendingBatches(deps()));
    await expectCommitted([]);
    return { error, keys };
  }

  it('transforms a valid batch and commits its processed manifest (the control)', async () => {
    const result = await transformPendingBatches(deps());

    expect(result.upToBatchId).toBeNull(); // no ingestion batch yet: nothing to do
    await writeIngestionBatch(s3, ingestion, BATCH_1, sampleBatch());
    const done = await transformPendingBatches(deps());

    expect(done.upToBatchId).toBe(BATCH_1);
    expect(done.transformedBatchIds).toEqual([BATCH_1]);
    expect(done.rows.fact_sales_order).toBe(33);
    expect(done.rows.fact_payment).toBe(38);
    await expectCommitted([MANIFEST_1], BATCH_1);
    const manifest = (await readLatestManifest<ProcessedManifest>(s3, processed))!;
    expect(manifest.tables.fact_sales_order!.rows).toBe(33);
    const sales = await readParquetRows(s3, processed, manifest.tables.fact_sales_order!.key, 'sales_order_id');
    expect(sales).toHaveLength(33);
    // Numerics given as strings ("3.94") and as JSON numbers (552548.62) both arrive exact.
    expect(sales.find((row) => row.sales_order_id === 2)).toMatchObject({ units_sold: 42972, unit_price: '3.94', sales_staff_id: 19 });
    const payments = await readParquetRows(s3, processed, manifest.tables.fact_payment!.key, 'payment_id');
    expect(payments.find((row) => row.payment_id === 2)).toMatchObject({ payment_amount: '552548.62', paid: false });
  });

  it('rejects a malformed (truncated) JSON line, naming the table, the object and that line', async () => {
    // Line 17 of sales_order cut off in the middle of a key.
    const bad = withLineText(sampleBatch(), 'sales_order', 17, (line) => line.slice(0, 60));
    const { error, keys } = await failsAsBatch1(bad);
    expectBadInput(error, { table: 'sales_order', object: object(keys.sales_order), line: 17 });
    expect(error.message).toMatch(/JSON/);
  });

  it('by default holds a malformed (truncated) JSON line in quarantine, with its line, and transforms the rest of the object', async () => {
    const bad = withLineText(sampleBatch(), 'sales_order', 17, (line) => line.slice(0, 60));
    const keys = await writeIngestionBatch(s3, ingestion, BATCH_1, bad);
    const result = await transformPendingBatches(deps({ rows: DEFAULT_ROW_POLICY }));
    expect(result.rows.fact_sales_order).toBe(32);
    expect(result.quarantine).toMatchObject({ held: 1, added: 1 });
    expect(result.quarantine.rows).toEqual([expect.objectContaining({ table: 'sales_order', field: null, reason: expect.stringMatching(/^malformed JSON/) })]);
    const manifest = (await readLatestManifest<ProcessedManifest>(s3, processed))!;
    expect(manifest.quarantine).toMatchObject({ held: 1, key: expect.stringMatching(/^quarantine\/batch-0000000001\//) });
    expect(await readHeldRows(s3, processed, manifest.quarantine!.key)).toEqual([
      expect.objectContaining({ key: null, line: 17, object: object(keys.sales_order), text: bad.sales_order![16] }),
    ]);
  });

  it('rejects a row missing a required field, naming the line and the field', async () => {
    const bad = withRow(sampleBatch(), 'sales_order', 5, (row) => delete row.units_sold);
    const { error, keys } = await failsAsBatch1(bad);
    expectBadInput(error, { table: 'sales_order', object: object(keys.sales_order), line: 5, field: 'units_sold' });
    expect(error.message).toMatch(/missing/);
  });

  it('rejects a required field that is explicitly null, naming the line and the field', async () => {
    const bad = withRow(sampleBatch(), 'purchase_order', 12, (row) => (row.agreed_delivery_location_id = null));
    const { error, keys } = await failsAsBatch1(bad);
    expectBadInput(error, { table: 'purchase_order', object: object(keys.purchase_order), line: 12, field: 'agreed_delivery_location_id' });
    expect(error.message).toMatch(/null/);
  });

  describe('rejects a value of the wrong type, naming the line and the field', () => {
    it('an integer that is a word (sales_order units_sold "many")', async () => {
      const bad = withRow(sampleBatch(), 'sales_order', 3, (row) => (row.units_sold = 'many'));
      const { error, keys } = await failsAsBatch1(bad);
      expectBadInput(error, { table: 'sales_order', object: object(keys.sales_order), line: 3, field: 'units_sold' });
      expect(error.message).toContain('"many"');
    });

    it('a timestamp that is a word (sales_order created_at "yesterday")', async () => {
      const bad = withRow(sampleBatch(), 'sales_order', 9, (row) => (row.created_at = 'yesterday'));
      const { error, keys } = await failsAsBatch1(bad);
      expectBadInput(error, { table: 'sales_order', object: object(keys.sales_order), line: 9, field: 'created_at' });
    });

    // DuckDB's own cast would make the JSON string "yes" the BOOLEAN true (and "t", 1, 0 too):
    // values are read as text and checked against the type's pattern before any cast.
    it('a boolean that is a word (payment paid "yes")', async () => {
      const bad = withRow(sampleBatch(), 'payment', 7, (row) => (row.paid = 'yes'));
      const { error, keys } = await failsAsBatch1(bad);
      expectBadInput(error, { table: 'payment', object: object(keys.payment), line: 7, field: 'paid' });
    });

    // Likewise DuckDB's cast would round the JSON number 3.5 to the INTEGER 4.
    it('an integer with a fraction (sales_order units_sold 3.5)', async () => {
      const bad = withRow(sampleBatch(), 'sales_order', 4, (row) => (row.units_sold = 3.5));
      const { error, keys } = await failsAsBatch1(bad);
      expectBadInput(error, { table: 'sales_order', object: object(keys.sales_order), line: 4, field: 'units_sold' });
    });

    // A timestamp must be a real calendar day: JavaScript's Date.parse would roll 2022-02-30 over
    // to 2 March, which is why the rules are SQL alone.
    it('a timestamp with an impossible day (sales_order created_at "2022-02-30T10:00:00.000")', async () => {
      const bad = withRow(sampleBatch(), 'sales_order', 4, (row) => (row.created_at = '2022-02-30T10:00:00.000'));
      const { error, keys } = await failsAsBatch1(bad);
      expectBadInput(error, { table: 'sales_order', object: object(keys.sales_order), line: 4, field: 'created_at' });
    });

    // read_json gives the JSON number 1e3 as the text "1000.0", which the integer rule rejects;
    // the same rule, run over the object's numbered lines, names the line.
    it('an integer written with an exponent (sales_order units_sold 1e3)', async () => {
      const bad = withLineText(sampleBatch(), 'sales_order', 6, (line) => line.replace(/"units_sold": ?\d+/, '"units_sold": 1e3'));
      const { error, keys } = await failsAsBatch1(bad);
      expectBadInput(error, { table: 'sales_order', object: object(keys.sales_order), line: 6, field: 'units_sold' });
      expect(error.message).toContain('1000.0 is not an integer');
    });
  });

  it('rejects a text date that is not a date, naming the line and the field', async () => {
    const bad = withRow(sampleBatch(), 'sales_order', 11, (row) => (row.agreed_delivery_date = '2022-13-45'));
    const { error, keys } = await failsAsBatch1(bad);
    expectBadInput(error, { table: 'sales_order', object: object(keys.sales_order), line: 11, field: 'agreed_delivery_date' });
    expect(error.message).toContain('"2022-13-45"');
  });

  it('rejects an enum label that ToteSys does not have, naming the line and the field', async () => {
    const bad = withRow(sampleBatch(), 'payment_type', 2, (row) => (row.payment_type_name = 'GIFT'));
    const { error, keys } = await failsAsBatch1(bad);
    expectBadInput(error, { table: 'payment_type', object: object(keys.payment_type), line: 2, field: 'payment_type_name' });
    expect(error.message).toContain('"GIFT"');
  });

  it('rejects a fact that references a dimension key no batch ever delivered, naming the table, the key and the batch', async () => {
    // Line 5 of sales_order is sales order 6.
    const bad = withRow(sampleBatch(), 'sales_order', 5, (row) => (row.staff_id = 999));
    const { error } = await failsAsBatch1(bad);
    expect(error).toBeInstanceOf(BadInputError);
    expect(error.name).toBe('BadInputError');
    expect(error.message).toMatch(/\btable sales_order\b/);
    expect(error.message).toMatch(/\bsales_order_id=6\b/);
    expect(error.message).toMatch(/\bstaff_id=999\b/);
    expect(error.message).toContain(BATCH_1);
  });

  it('rejects a counterparty whose legal address was never delivered, naming the table, the key and the batch', async () => {
    // Line 3 of counterparty is counterparty 3.
    const bad = withRow(sampleBatch(), 'counterparty', 3, (row) => (row.legal_address_id = 999));
    const { error } = await failsAsBatch1(bad);
    expect(error).toBeInstanceOf(BadInputError);
    expect(error.message).toMatch(/\btable counterparty\b/);
    expect(error.message).toMatch(/\bcounterparty_id=3\b/);
    expect(error.message).toMatch(/\blegal_address_id=999\b/);
    expect(error.message).toContain(BATCH_1);
  });

  it('rejects an object whose row count differs from the manifest, naming the table, the object and both counts', async () => {
    const { error, keys } = await failsAsBatch1(sampleBatch(), { rows: { sales_order: 34 } });
    expectBadInput(error, { table: 'sales_order', object: object(keys.sales_order) });
    expect(error.message).toMatch(/\b33\b/);
    expect(error.message).toMatch(/\b34\b/);
  });

  it('fails the same way when re-run without a fix, commits nothing, and transforms the batch once it is fixed', async () => {
    const bad = withRow(sampleBatch(), 'sales_order', 20, (row) => (row.units_sold = 'many'));
    const { error: first, keys } = await failsAsBatch1(bad);
    expectBadInput(first, { table: 'sales_order', object: object(keys.sales_order), line: 20, field: 'units_sold' });
    // Bad input is found before anything is written: no partial result at all.
    expect(await listKeys(s3, processed)).toEqual([]);

    const second = await failureOf(transformPendingBatches(deps()));
    expect(second).toBeInstanceOf(BadInputError);
    expect(second.message).toBe(first.message);
    await expectCommitted([]);
    expect(await listKeys(s3, processed)).toEqual([]);

    // The fixed batch (ingestion buckets are append-only: a fresh one), the same processed bucket.
    const fixed = await freshBucket(s3, 'ingestion-fixed');
    await writeIngestionBatch(s3, fixed, BATCH_1, sampleBatch());
    const result = await transformPendingBatches(deps({ ingestionBucket: fixed }));
    expect(result.transformedBatchIds).toEqual([BATCH_1]);
    expect(result.rows.fact_sales_order).toBe(33);
    await expectCommitted([MANIFEST_1], BATCH_1);
  });

  it('keeps batch 1 committed and the latest when batch 2 is bad, and fails every run until batch 2 is fixed', async () => {
    const base = sampleBatch();
    await writeIngestionBatch(s3, ingestion, BATCH_1, base);
    // Batch 2: new versions of sales orders 2 and 3 (lines 1 and 2 of the sample), within the
    // calendar batch 1 already covers; they reference staff, designs … delivered by batch 1.
    const update = (line: number, unitsSold: unknown) =>
      withRow(base, 'sales_order', line, (row) => {
        row.units_sold = unitsSold;
        row.last_updated = '2022-11-05T10:00:00.000';
      }).sales_order![line - 1]!;
    const badKeys = await writeIngestionBatch(s3, ingestion, BATCH_2, { sales_order: [update(1, 100), update(2, 'many')] });

    const error = await failureOf(transformPendingBatches(deps()));
    expectBadInput(error, { table: 'sales_order', object: object(badKeys.sales_order), line: 2, field: 'units_sold' });
    await expectCommitted([MANIFEST_1], BATCH_1);

    // Up to batch 1 there is nothing left to do; the bad batch 2 is not touched.
    expect(await transformPendingBatches(deps(), BATCH_1)).toEqual({ upToBatchId: BATCH_1, transformedBatchIds: [], rows: {}, quarantine: NOTHING_HELD });
    // Every further run stops at batch 2 the same way, and batch 1 is never redone.
    const again = await failureOf(transformPendingBatches(deps()));
    expect(again.message).toBe(error.message);
    await expectCommitted([MANIFEST_1], BATCH_1);

    const fixed = await freshBucket(s3, 'ingestion-fixed');
    await writeIngestionBatch(s3, fixed, BATCH_1, base);
    await writeIngestionBatch(s3, fixed, BATCH_2, { sales_order: [update(1, 100), update(2, 200)] });
    const result = await transformPendingBatches(deps({ ingestionBucket: fixed }));
    expect(result).toEqual({ upToBatchId: BATCH_2, transformedBatchIds: [BATCH_2], rows: { fact_sales_order: 2 }, quarantine: NOTHING_HELD });
    await expectCommitted([MANIFEST_2, MANIFEST_1], BATCH_2);
    const manifest = (await readLatestManifest<ProcessedManifest>(s3, processed))!;
    const sales = await readParquetRows(s3, processed, manifest.tables.fact_sales_order!.key, 'sales_order_id');
    expect(sales.map((row) => [row.sales_order_id, row.units_sold])).toEqual([
      [2, 100],
      [3, 200],
    ]);
  });

  describe('temp space', () => {
    let root: string;
    beforeEach(() => {
      root = mkdtempSync(path.join(tmpdir(), 'transform-root-'));
    });
    afterEach(() => {
      rmSync(root, { recursive: true, force: true });
    });
    const inRoot = () => deps({ duckdb: { memoryLimitMb: 256, threads: 1, workRoot: root } });

    it('is left empty after a successful transform', async () => {
      await writeIngestionBatch(s3, ingestion, BATCH_1, sampleBatch());
      const result = await transformPendingBatches(inRoot());
      expect(result.transformedBatchIds).toEqual([BATCH_1]);
      expect(readdirSync(root)).toEqual([]);
    });

    it('is left empty after a failed transform', async () => {
      await writeIngestionBatch(s3, ingestion, BATCH_1, withRow(sampleBatch(), 'sales_order', 5, (row) => delete row.units_sold));
      const error = await failureOf(transformPendingBatches(inRoot()));
      expect(error).toBeInstanceOf(BadInputError);
      expect(readdirSync(root)).toEqual([]);
    });

    /** The files under `root` this process still holds open (Linux: /proc/self/fd). */
    const openUnderRoot = () =>
      readdirSync('/proc/self/fd')
        .map((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`);
          } catch {
            return ''; // closed between listing and reading
          }
        })
        .filter((target) => target.startsWith(`${root}/`));

    // Naming the bad line reads the object line by line and may stop early. A reader that closed
    // only its readline interface would leave the gunzip stream and the file open once the object
    // is larger than one read (64 KiB compressed): the folder would look empty, but a warm
    // Lambda's /tmp would keep the deleted file's space (and a descriptor) for every failed batch.
    (existsSync('/proc/self/fd') ? it : it.skip)('keeps no file of it open after a failed transform of a large object', async () => {
      // The bad line first, then ~300 KiB of incompressible lines after it.
      const bad = withRow(sampleBatch(), 'sales_order', 2, (row) => (row.units_sold = 'many'));
      bad.sales_order = [...bad.sales_order!, ...Array.from({ length: 5000 }, () => JSON.stringify({ filler: randomBytes(32).toString('hex') }))];
      await writeIngestionBatch(s3, ingestion, BATCH_1, bad);
      const error = await failureOf(transformPendingBatches(inRoot()));
      expect(linesNamed(error.message)).toEqual([2]);
      expect(readdirSync(root)).toEqual([]);
      expect(openUnderRoot()).toEqual([]);
    });
  });
});
