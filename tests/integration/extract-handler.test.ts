import type { Context } from 'aws-lambda';
import { LOG_EVENTS } from '../../functions/shared/log-events';
import { loadSample } from '../../scripts/totesys/sample';
import { createTotesysSchema } from '../../scripts/totesys/schema';
import { useTestDatabase } from '../support/database';
import { freshBucket, useLocalS3 } from '../support/local-s3';
import path from 'node:path';

const lambdaContext = { functionName: 'extract', awsRequestId: 'test-request', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

describe('the extract Lambda handler', () => {
  const db = useTestDatabase('extract_handler');
  const lake = useLocalS3([]);
  let savedEnv: NodeJS.ProcessEnv;
  let logs: string[];

  beforeEach(() => {
    savedEnv = { ...process.env };
    logs = [];
    jest.resetModules();
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      logs.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.env = { ...savedEnv };
  });

  async function invoke(env: Record<string, string>): Promise<unknown> {
    Object.assign(process.env, lake.env(), env);
    // Loaded afresh per test: the handler reads its configuration once per container.
    const { handler } = require('../../functions/extract/handler') as typeof import('../../functions/extract/handler');
    return handler({}, lambdaContext);
  }

  it('extracts with its configuration from the environment and returns only references and counts', async () => {
    await createTotesysSchema(db.sql);
    await loadSample(db.sql, path.join(__dirname, '../fixtures/totesys-sample'));
    const bucket = await freshBucket(lake.client(), 'handler');

    const result = await invoke({ TOTESYS_DATABASE_URL: db.url, INGESTION_BUCKET: bucket });

    expect(result).toEqual({
      batchId: '0000000001',
      manifestKey: 'manifests/9999999998_batch-0000000001.json',
      upToBatchId: '0000000001',
      deleted: {},
      rows: expect.objectContaining({ sales_order: 33, payment: 38 }),
      totalRows: 294,
    });
    const entries = logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries).toContainEqual(
      expect.objectContaining({ level: 'INFO', message: LOG_EVENTS.extract.tableExtracted, step: 'extract', batchId: '0000000001', table: 'sales_order', rows: 33 }),
    );
    expect(logs.join('')).not.toContain(db.url);
  });

  it('fails with a retryable error naming the database, never its password, when ToteSys is unreachable', async () => {
    const bucket = await freshBucket(lake.client(), 'handler');
    const failure = invoke({ TOTESYS_DATABASE_URL: 'postgres://reader:s3cret@127.0.0.1:1/totesys', INGESTION_BUCKET: bucket });
    // The state machine retries on the error's name, which Lambda reports as its type.
    await expect(failure).rejects.toMatchObject({ name: 'DatabaseUnavailableError' });
    await expect(failure).rejects.toThrow(/ToteSys database at 127\.0\.0\.1:1\/totesys is unreachable/);
    await expect(failure).rejects.not.toThrow(/s3cret/);
  });
});
