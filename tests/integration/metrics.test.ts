import type { Context } from 'aws-lambda';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LOG_EVENTS } from '../../functions/shared/log-events';
import { EXECUTION_ID_KEY, METRICS, METRICS_NAMESPACE, type PipelineMetric } from '../../functions/shared/metrics';
import { useTestDatabase } from '../support/database';
import { seedSampleTotesys } from '../support/local-pipeline';
import { freshBucket, useLocalS3 } from '../support/local-s3';

/**
 * The real handlers of the three steps and the verification, run in turn against a real ToteSys,
 * warehouse and S3 server, as the state machine calls them (with `executionId`), their stdout
 * captured: what Lambda would send to CloudWatch Logs. Every log line carries the execution id,
 * and the metrics come out in CloudWatch's embedded metric format (EMF) under the one namespace,
 * with exactly their defined dimensions and the execution id as metadata.
 */
type Line = Record<string, unknown>;
type Emf = Line & { _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] } };
type HandlerName = 'extract' | 'transform' | 'load' | 'verify';

const DEPLOYMENT = 'totesys-pipeline-test';
const EXECUTION = 'arn:aws:states:eu-west-2:000000000000:execution:totesys-pipeline-test:0f6c3c2e-run';

describe('the handlers’ logs and metrics', () => {
  const totesys = useTestDatabase('metrics_totesys');
  const warehouse = useTestDatabase('metrics_warehouse');
  const lake = useLocalS3([]);
  let savedEnv: NodeJS.ProcessEnv;
  let workRoot: string;
  let buckets: { INGESTION_BUCKET: string; PROCESSED_BUCKET: string };

  beforeAll(async () => {
    await seedSampleTotesys(totesys.sql);
    buckets = { INGESTION_BUCKET: await freshBucket(lake.client(), 'ingestion'), PROCESSED_BUCKET: await freshBucket(lake.client(), 'processed') };
  });
  beforeEach(() => {
    savedEnv = { ...process.env };
    workRoot = mkdtempSync(path.join(tmpdir(), 'metrics-work-'));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.env = { ...savedEnv };
    rmSync(workRoot, { recursive: true, force: true });
  });

  /** One invocation of a freshly loaded handler (as a new Lambda container), with what it wrote to stdout and stderr. */
  async function invoke(name: HandlerName, event: Record<string, unknown>, env: Record<string, string> = {}) {
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    Object.assign(process.env, lake.env(), buckets, {
      TOTESYS_DATABASE_URL: totesys.url,
      WAREHOUSE_DATABASE_URL: warehouse.url,
      PIPELINE_DEPLOYMENT: DEPLOYMENT,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      TRANSFORM_THREADS: '2',
      TRANSFORM_MEMORY_LIMIT_MB: '256',
      TRANSFORM_WORK_DIR: workRoot,
      LOAD_THREADS: '2',
      LOAD_MEMORY_LIMIT_MB: '256',
      LOAD_WORK_DIR: workRoot,
      ...env,
    });
    const stdout: string[] = [];
    const stderr: string[] = [];
    const capture = (into: string[]) => (chunk: string | Uint8Array) => {
      into.push(String(chunk));
      return true;
    };
    jest.spyOn(process.stdout, 'write').mockImplementation(capture(stdout));
    jest.spyOn(process.stderr, 'write').mockImplementation(capture(stderr));
    const context = { functionName: `${DEPLOYMENT}-${name}`, awsRequestId: `request-${name}`, getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
    let outcome: { result?: unknown; error?: unknown };
    let elapsedMs = 0;
    try {
      jest.resetModules();
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { handler } = require(`../../functions/${name}/handler`) as { handler: (event: unknown, context: Context) => Promise<unknown> };
      const started = performance.now();
      try {
        outcome = { result: await handler(event, context) };
      } finally {
        elapsedMs = performance.now() - started;
      }
    } catch (error) {
      outcome = { error };
    } finally {
      jest.restoreAllMocks();
    }
    const lines = stdout
      .join('')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Line);
    const emf = lines.filter((line): line is Emf => '_aws' in line);
    return { ...outcome, elapsedMs, logs: lines.filter((line) => !('_aws' in line)), emf, stderr: stderr.join('') };
  }

  /** The values of a metric across the EMF lines, with the dimension values of each line. */
  const pointsOf = (emf: Emf[], metric: PipelineMetric) =>
    emf
      .filter((line) => line._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === metric.name))
      .flatMap((line) => {
        const values = ([] as unknown[]).concat(line[metric.name]);
        const dimensions = Object.fromEntries(line._aws.CloudWatchMetrics[0]!.Dimensions[0]!.map((d) => [d, line[d]]));
        return values.map((value) => ({ dimensions, value: value as number }));
      });
  const rowsByTable = (emf: Emf[], step: string) =>
    Object.fromEntries(
      pointsOf(emf, METRICS.rows)
        .filter((p) => p.dimensions.Step === step)
        .map((p) => [p.dimensions.Table, p.value]),
    );

  /** StepDuration: one point, the step's, no longer than the handler call took and not nothing. */
  function expectDuration(output: Awaited<ReturnType<typeof invoke>>, step: string) {
    const points = pointsOf(output.emf, METRICS.stepDuration);
    expect(points.map((p) => p.dimensions)).toEqual([{ Deployment: DEPLOYMENT, Step: step }]);
    expect(points[0]!.value).toBeGreaterThan(0);
    expect(points[0]!.value).toBeLessThanOrEqual(output.elapsedMs);
  }

  /** What holds for every invocation: one namespace, the defined dimensions only, the execution id on every line. */
  function expectWellFormed(output: Awaited<ReturnType<typeof invoke>>, executionId: string | undefined) {
    const definitions = new Map<string, readonly string[]>(Object.values(METRICS).map((m) => [m.name, m.dimensions]));
    expect(output.emf.length).toBeGreaterThan(0);
    for (const line of output.emf) {
      const [directive, ...more] = line._aws.CloudWatchMetrics;
      expect(more).toEqual([]);
      expect(directive!.Namespace).toBe('ToteSysPipeline');
      expect(directive!.Namespace).toBe(METRICS_NAMESPACE);
      expect(directive!.Dimensions).toHaveLength(1);
      for (const { Name, Unit } of directive!.Metrics) {
        expect({ Name, dimensions: directive!.Dimensions[0] }).toEqual({ Name, dimensions: definitions.get(Name) });
        expect(Unit).toBe(Object.values(METRICS).find((m) => m.name === Name)!.unit);
      }
      expect(line.Deployment).toBe(DEPLOYMENT);
      // Metadata, not a dimension: Logs Insights can filter on it, CloudWatch bills no metric for it.
      expect(line[EXECUTION_ID_KEY]).toBe(executionId);
      expect(directive!.Dimensions[0]).not.toContain(EXECUTION_ID_KEY);
    }
    expect(output.logs.length).toBeGreaterThan(0);
    for (const log of output.logs) expect({ message: log.message, executionId: log[EXECUTION_ID_KEY] }).toEqual({ message: log.message, executionId });
    // Powertools said nothing on stderr (no "no metrics to publish", no bad dimension).
    expect(output.stderr).toBe('');
  }

  it('follow one execution through Extract, Transform, Load and Verify: the id on every log line, the metrics in EMF', async () => {
    const event = { executionId: EXECUTION };

    const extract = await invoke('extract', event);
    expect(extract.error).toBeUndefined();
    expectWellFormed(extract, EXECUTION);
    const extracted = extract.result as { batchId: string; rows: Record<string, number>; totalRows: number };
    expect(extracted).toMatchObject({ batchId: '0000000001', totalRows: 294 });
    expect(extract.logs).toContainEqual(expect.objectContaining({ message: LOG_EVENTS.extract.tableExtracted, step: 'extract', table: 'sales_order', rows: 33, executionId: EXECUTION }));
    expect(rowsByTable(extract.emf, 'extract')).toEqual(extracted.rows);
    // The rows per table the log reports for every table, those with rows: the same counts as the metric.
    const logged = Object.fromEntries(
      extract.logs.filter((l) => l.message === LOG_EVENTS.extract.tableExtracted && (l.rows as number) > 0).map((l) => [l.table, l.rows]),
    );
    expect(rowsByTable(extract.emf, 'extract')).toEqual(logged);
    expect(pointsOf(extract.emf, METRICS.batchRows)).toEqual([{ dimensions: { Deployment: DEPLOYMENT }, value: 294 }]);
    expect(pointsOf(extract.emf, METRICS.deletedRows)).toEqual([]);
    expectDuration(extract, 'extract');

    const transform = await invoke('transform', { ...event, upToBatchId: extracted.batchId });
    expect(transform.error).toBeUndefined();
    expectWellFormed(transform, EXECUTION);
    const transformed = transform.result as { rows: Record<string, number>; quarantine: { held: number } };
    expect(rowsByTable(transform.emf, 'transform')).toEqual(transformed.rows);
    expect(Object.keys(transformed.rows)).toContain('fact_sales_order');
    expect(pointsOf(transform.emf, METRICS.quarantinedRows)).toEqual([{ dimensions: { Deployment: DEPLOYMENT }, value: transformed.quarantine.held }]);
    expectDuration(transform, 'transform');

    const load = await invoke('load', { ...event, upToBatchId: extracted.batchId });
    expect(load.error).toBeUndefined();
    expectWellFormed(load, EXECUTION);
    const loaded = load.result as { rows: Record<string, number>; loadedBatchIds: string[] };
    expect(loaded.loadedBatchIds).toEqual(['0000000001']);
    expect(rowsByTable(load.emf, 'load')).toEqual(loaded.rows);
    // Freshness: the lag Load logged for the batch, as the metric (the sample's changes are from 2022–23: a large lag).
    const batchLoaded = load.logs.find((l) => l.message === LOG_EVENTS.load.batchLoaded)!;
    expect(batchLoaded.changeLagSeconds).toBeGreaterThan(365 * 86_400);
    expect(pointsOf(load.emf, METRICS.changeLag)).toEqual([{ dimensions: { Deployment: DEPLOYMENT }, value: batchLoaded.changeLagSeconds }]);
    expectDuration(load, 'load');

    const verify = await invoke('verify', event);
    expect(verify.error).toBeUndefined();
    expectWellFormed(verify, EXECUTION);
    expect(pointsOf(verify.emf, METRICS.mismatchedRows)).toEqual([{ dimensions: { Deployment: DEPLOYMENT }, value: 0 }]);
    expectDuration(verify, 'verify');
  });

  it('forget the execution id after the invocation: the next one, without an id, logs and publishes none', async () => {
    jest.resetModules();
    // One container, two invocations: the first with an id, the second without.
    Object.assign(process.env, lake.env(), buckets, { TOTESYS_DATABASE_URL: totesys.url, PIPELINE_DEPLOYMENT: DEPLOYMENT, POWERTOOLS_LOG_LEVEL: 'INFO' });
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    const written: string[] = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { handler } = require('../../functions/extract/handler') as { handler: (event: unknown, context: Context) => Promise<{ batchId: string | null }> };
    const context = { functionName: 'extract', awsRequestId: 'request', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
    const linesOf = () => written.splice(0).join('').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Line);

    await handler({ executionId: EXECUTION }, context);
    expect(linesOf().every((line) => line[EXECUTION_ID_KEY] === EXECUTION)).toBe(true);
    // Nothing changed since the first test's batch: no batch, no rows, a duration.
    const second = await handler({}, context);
    expect(second.batchId).toBeNull();
    const lines = linesOf();
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.filter((line) => EXECUTION_ID_KEY in line)).toEqual([]);
    const emf = lines.filter((line): line is Emf => '_aws' in line);
    expect(emf.flatMap((line) => line._aws.CloudWatchMetrics[0]!.Metrics.map((m) => m.Name))).toEqual(['StepDuration']);
  });

  it('publish no duration for a failed invocation, so that the near-timeout alarm means a slow success', async () => {
    const failed = await invoke('extract', { executionId: EXECUTION }, { TOTESYS_DATABASE_URL: 'postgres://reader:s3cret@127.0.0.1:1/totesys' });
    // (Which error, DatabaseUnavailableError, is extract-handler.test.ts's business.)
    expect(failed.error).toBeInstanceOf(Error);
    expect(failed.emf).toEqual([]);
    expect(failed.stderr).toBe('');
  });

  it('write nothing of their own with the local runner’s settings (metrics off, WARN logs): npm start’s output stays as it is', async () => {
    const quiet = await invoke('extract', { executionId: EXECUTION }, { POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'WARN' });
    expect(quiet.error).toBeUndefined();
    expect({ logs: quiet.logs, emf: quiet.emf, stderr: quiet.stderr }).toEqual({ logs: [], emf: [], stderr: '' });
  });
});
