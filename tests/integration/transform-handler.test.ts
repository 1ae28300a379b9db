import type { Context } from 'aws-lambda';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { extractChangedRows } from '../../functions/extract/extract-changed-rows';
import { LOCAL_DEPLOYMENT } from '../../functions/shared/metrics';
import type { TransformOutput } from '../../functions/shared/step-contract';
import { useTestDatabase } from '../support/database';
import { seedSampleTotesys } from '../support/local-pipeline';
import { freshBucket, useLocalS3 } from '../support/local-s3';

const lambdaContext = { functionName: 'transform', awsRequestId: 'test-request', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

/**
 * The Transform Lambda handler: its configuration from the environment (the row policy included),
 * and the QuarantinedRows metric it publishes after each run in CloudWatch's embedded metric
 * format, through its log (what the quarantined-rows alarm reads, infra/alerting.ts), with the
 * Deployment dimension only. tests/integration/metrics.test.ts covers the other metrics.
 */
describe('the transform Lambda handler', () => {
  const totesys = useTestDatabase('transform_handler');
  const lake = useLocalS3([]);
  let savedEnv: NodeJS.ProcessEnv;
  let written: string[];
  let workRoot: string;

  beforeEach(() => {
    savedEnv = { ...process.env };
    written = [];
    workRoot = mkdtempSync(path.join(tmpdir(), 'transform-handler-work-'));
    jest.resetModules();
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.env = { ...savedEnv };
    rmSync(workRoot, { recursive: true, force: true });
  });

  async function invoke(env: Record<string, string>, input: Record<string, unknown> = {}): Promise<TransformOutput> {
    // As in AWS: metrics on (the local runner switches them off; see the last test).
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    Object.assign(process.env, lake.env(), { POWERTOOLS_LOG_LEVEL: 'SILENT', TRANSFORM_THREADS: '2', TRANSFORM_MEMORY_LIMIT_MB: '256', TRANSFORM_WORK_DIR: workRoot }, env);
    // Loaded afresh per test: the handler reads its configuration once per container.
    const { handler } = require('../../functions/transform/handler') as typeof import('../../functions/transform/handler');
    return handler(input, lambdaContext);
  }

  /** The embedded-metric-format lines the handler wrote. */
  const metricLines = () =>
    written
      .flatMap((chunk) => chunk.split('\n'))
      .map((line) => line.trim())
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  /** The one line that holds QuarantinedRows. */
  const quarantineLines = () => metricLines().filter((line) => 'QuarantinedRows' in line);
  /** A time in milliseconds between this file's start and now: a line published by this run. */
  const fileStarted = Date.now();
  const publishedDuringThisRun = { asymmetricMatch: (value: unknown) => typeof value === 'number' && value >= fileStarted && value <= Date.now(), toString: () => 'PublishedDuringThisRun' };
  const quarantinedRows = (value: number) => ({
    _aws: {
      Timestamp: publishedDuringThisRun,
      CloudWatchMetrics: [{ Namespace: 'ToteSysPipeline', Dimensions: [['Deployment']], Metrics: [{ Name: 'QuarantinedRows', Unit: 'Count' }] }],
    },
    Deployment: LOCAL_DEPLOYMENT,
    QuarantinedRows: value,
  });

  it('publishes QuarantinedRows = 0, once and with the Deployment dimension alone, when nothing is held (an empty lake)', async () => {
    const s3 = lake.client();
    const result = await invoke({ INGESTION_BUCKET: await freshBucket(s3, 'ingestion'), PROCESSED_BUCKET: await freshBucket(s3, 'processed') });

    expect(result).toMatchObject({ upToBatchId: null, transformedBatchIds: [], quarantine: { held: 0, added: 0, released: 0, closed: 0, rows: [] } });
    expect(quarantineLines()).toEqual([quarantinedRows(0)]);
  });

  it('holds rows by the PIPELINE_LATEST_DATE of its environment, and publishes how many are held', async () => {
    await seedSampleTotesys(totesys.sql);
    const s3 = lake.client();
    const ingestionBucket = await freshBucket(s3, 'ingestion');
    await extractChangedRows({ totesys: totesys.sql, s3, ingestionBucket });

    // The sample's newest changes are from late February 2023: those rows are out of range.
    const result = await invoke({ INGESTION_BUCKET: ingestionBucket, PROCESSED_BUCKET: await freshBucket(s3, 'processed'), PIPELINE_LATEST_DATE: '2023-02-15' });

    expect(result.transformedBatchIds).toEqual(['0000000001']);
    expect(result.quarantine.held).toBeGreaterThan(0);
    expect(result.quarantine.rows.map((row) => row.reason).join('\n')).toContain('2023-02-15');
    expect(quarantineLines()).toEqual([quarantinedRows(result.quarantine.held)]);
  });

  it('publishes nothing with POWERTOOLS_METRICS_DISABLED=true, as the local runner sets it', async () => {
    const s3 = lake.client();
    const result = await invoke({
      INGESTION_BUCKET: await freshBucket(s3, 'ingestion'),
      PROCESSED_BUCKET: await freshBucket(s3, 'processed'),
      POWERTOOLS_METRICS_DISABLED: 'true',
    });

    expect(result.quarantine.held).toBe(0);
    expect(metricLines()).toEqual([]);
  });
});
