import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withDuckDb } from '../../functions/shared/duckdb-session';
import { bucketFiles, uploadFile } from '../../functions/shared/s3-files';
import { TOTESYS_TABLES } from '../../functions/shared/totesys-tables';
import { CURRENT_STATE_TABLES } from '../../functions/transform/models/models';
import { openSourceState } from '../../functions/transform/source-state';
import { freshBucket, useLocalS3 } from '../support/local-s3';

/**
 * The keys the `relationships` checks look references up in (`current_keys_<table>`, source-state.ts),
 * against the state the processed bucket keeps across batches: a key is there when its newest
 * version, this batch included, is a row and not a deletion.
 */
describe('the current keys a reference is checked against', () => {
  const lake = useLocalS3([]);
  let workRoot: string;
  beforeAll(() => {
    workRoot = mkdtempSync(path.join(tmpdir(), 'current-keys-'));
  });
  afterAll(() => rmSync(workRoot, { recursive: true, force: true }));

  it('hold a key delivered earlier, not one deleted earlier or in this batch, and the batch’s own keys', async () => {
    const s3 = lake.client();
    const bucket = await freshBucket(s3, 'current-keys');
    const dangling = await withDuckDb({ memoryLimitMb: 128, threads: 1, workRoot }, async (session) => {
      // Transaction's state in two parts: batch 1 delivered 1, 2, 3 and 5; batch 2 deleted 2 and changed 5.
      const parts = ['part-1', 'part-2'].map((name) => path.join(session.dir, `${name}.parquet`));
      await session.run(`COPY (SELECT * FROM (VALUES (1, 1, false), (2, 1, false), (3, 1, false), (5, 1, false)) t(transaction_id, _batch, _deleted)) TO '${parts[0]}' (FORMAT parquet)`);
      await session.run(`COPY (SELECT * FROM (VALUES (2, 2, true), (5, 2, false)) t(transaction_id, _batch, _deleted)) TO '${parts[1]}' (FORMAT parquet)`);
      const keys = ['state/transaction/batch-0000000001/a.parquet', 'state/transaction/batch-0000000002/b.parquet'];
      await Promise.all(keys.map((key, i) => uploadFile(s3, bucket, key, parts[i]!, 'application/vnd.apache.parquet')));

      // Batch 3: delivers transaction 6, deletes 3; its payments reference 1 … 7.
      for (const table of CURRENT_STATE_TABLES) {
        const key = TOTESYS_TABLES[table].primaryKey;
        await session.run(`CREATE TABLE stg_${table} AS SELECT * FROM (VALUES (${table === 'transaction' ? 6 : -1})) t("${key}") WHERE "${key}" > 0`);
        await session.run(`CREATE TABLE deleted_${table} AS SELECT * FROM (VALUES (${table === 'transaction' ? 3 : -1})) t("${key}") WHERE "${key}" > 0`);
      }
      await session.run(`CREATE TABLE stg_payment AS SELECT range AS payment_id, range AS transaction_id, NULL::INTEGER AS counterparty_id,
        NULL::INTEGER AS currency_id, NULL::INTEGER AS payment_type_id FROM range(1, 8)`);
      await openSourceState(session, bucketFiles(s3, bucket, path.join(session.dir, 'state')), { sources: { transaction: keys }, calendar: null } as never, '0000000003');
      const found = await session.rows<{ transaction_id: number }>(
        `SELECT transaction_id FROM stg_payment WHERE transaction_id NOT IN (SELECT transaction_id FROM current_keys_transaction) ORDER BY 1`,
      );
      return found.map((row) => Number(row.transaction_id));
    });
    // 2 deleted in batch 2, 3 deleted in this batch, 4 and 7 never delivered.
    expect(dangling).toEqual([2, 3, 4, 7]);
  });
});
