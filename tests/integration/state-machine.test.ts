import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Sql } from 'postgres';
import { BadInputError, PipelineStateError, SchemaDriftError, DatabaseUnavailableError } from '../../functions/shared/errors';
import { readExecutions, rerunInputFromRecord, runLocalExecution, type ExecutionRecord, type ProgressEvent, type StepHandler } from '../../scripts/local/execution';
import { LOCAL_ARNS, localDefinition } from '../../state-machine/local-definition';
import { OVERLAP_ERROR, STEP_STATE } from '../../state-machine/definition';
import { SCHEDULED_INPUT, type PipelineStep } from '../../functions/shared/step-contract';
import { useTestDatabase } from '../support/database';
import {

  counted,
  dumpWarehouseContent,
  namedError,
  neverCalled,
  seedSampleTotesys,
  startLocalPipeline,
  type CountedHandler,
  type LocalPipeline,
} from '../support/local-pipeline';

/**
 * The real state-machine definition, run locally by aws-local-stepfunctions exactly as `npm start`
 * runs it (scripts/local/execution.ts), over the real Extract, Transform and Load handlers, a real
 * ToteSys holding the real sample (33 sales orders), a real warehouse and a local S3 server.
 * Faults are injected by wrapping a real handler: the state machine sees only the error's name,
 * as it sees a Lambda's error type. Retries wait 1 ms instead of the definition's backoff.
 */

/** What Transform reports when nothing is held in quarantine. */
const NOTHING_HELD = { held: 0, added: 0, released: 0, closed: 0, rows: [], message: '' };

const BATCH_1 = '0000000001';
const SAMPLE_SALES_ORDERS = 33;

type Handlers = Record<PipelineStep, StepHandler>;
type Counted = Record<PipelineStep, CountedHandler>;

const originalEnv = { ...process.env };

function handlersOf(counters: Counted): Handlers {
  return { extract: counters.extract.handler, transform: counters.transform.handler, load: counters.load.handler };
}

function callCounts(counters: Counted): Record<PipelineStep, number> {
  return { extract: counters.extract.calls(), transform: counters.transform.calls(), load: counters.load.calls() };
}

function readNotifications(home: string): Record<string, unknown>[] {
  const file = path.join(home, 'notifications.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf-8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function countRows(sql: Sql, table: string): Promise<number> {
  const [row] = await sql.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table}`);
  return row!.n;
}

/** Whether Load has ever touched the warehouse (its first call creates the tables). */
async function hasWarehouseTables(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ exists: boolean }[]>`SELECT to_regclass('fact_sales_order') IS NOT NULL AS exists`;
  return row!.exists;
}

/** A promise and the functions that settle it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

describe('the pipeline state machine, run locally over the real steps', () => {
  const totesys = useTestDatabase('sfn_totesys', { each: true });
  const warehouse = useTestDatabase('sfn_warehouse', { each: true });
  let pipeline: LocalPipeline | undefined;

  /** A fresh local environment over this test's ToteSys (seeded with the sample) and empty warehouse. */
  async function startPipeline(): Promise<LocalPipeline> {
    await seedSampleTotesys(totesys.sql);
    pipeline = await startLocalPipeline({ totesysUrl: totesys.url, warehouseUrl: warehouse.url });
    return pipeline;
  }

  /** The real handlers, each counted, with `faults` replacing the behaviour of some steps. */
  function countedHandlers(
    local: LocalPipeline,
    faults: Partial<Record<PipelineStep, (call: number, real: StepHandler, payload: Record<string, unknown>) => Promise<unknown>>> = {},
  ): Counted {
    const real = local.realHandlers();
    return {
      extract: counted(real.extract, faults.extract),
      transform: counted(real.transform, faults.transform),
      load: counted(real.load, faults.load),
    };
  }

  afterEach(async () => {
    await pipeline?.stop();
    pipeline = undefined;
    process.env = { ...originalEnv };
  });

  it('runs Extract, Transform and Load once each on the happy path and fills the warehouse', async () => {
    const local = await startPipeline();
    const steps = countedHandlers(local);
    const events: ProgressEvent[] = [];

    const record = await runLocalExecution({ home: local.home, handlers: handlersOf(steps), retryIntervalMs: 1, onProgress: (event) => events.push(event) });

    expect(record.error).toBeUndefined();
    expect(record.status).toBe('SUCCEEDED');
    expect(callCounts(steps)).toEqual({ extract: 1, transform: 1, load: 1 });
    expect(record.output).toMatchObject({
      extract: { batchId: BATCH_1, upToBatchId: BATCH_1, totalRows: 294, rows: expect.objectContaining({ sales_order: SAMPLE_SALES_ORDERS }) },
      transform: { upToBatchId: BATCH_1, transformedBatchIds: [BATCH_1], rows: expect.objectContaining({ fact_sales_order: SAMPLE_SALES_ORDERS }) },
      load: { upToBatchId: BATCH_1, loadedBatchIds: [BATCH_1], rows: expect.objectContaining({ fact_sales_order: SAMPLE_SALES_ORDERS }) },
    });
    // Each step is handed what the previous one produced, and the execution's id.
    expect(steps.extract.payloads).toEqual([{ executionId: record.executionArn }]);
    expect(steps.transform.payloads).toEqual([{ executionId: record.executionArn, upToBatchId: BATCH_1 }]);
    expect(steps.load.payloads).toEqual([{ executionId: record.executionArn, upToBatchId: BATCH_1 }]);

    expect(await countRows(warehouse.sql, 'fact_sales_order')).toBe(SAMPLE_SALES_ORDERS);
    expect(record.alerts).toEqual([]);
    expect(readNotifications(local.home)).toEqual([]);
    expect(events.filter((event) => event.kind === 'step-succeeded').map((event) => (event as { step: string }).step)).toEqual(['extract', 'transform', 'load']);
    // The record on disk is the one returned.
    expect(readExecutions(local.home)).toEqual([JSON.parse(JSON.stringify(record))]);
  });

  it.each([
    ['extract', 'DatabaseUnavailableError'],
    ['load', 'DatabaseUnavailableError'],
    ['transform', 'BatchConflictError'],
  ] as const)(
    'retries %s after a retryable %s twice and succeeds on the third attempt, with no alert',
    async (failing, errorName) => {
      const local = await startPipeline();
      const steps = countedHandlers(local, {
        [failing]: async (call: number, real: StepHandler, payload: Record<string, unknown>) => {
          if (call <= 2) throw namedError(errorName, `injected transient failure ${call} of ${failing}`);
          return real(payload);
        },
      });

      const record = await runLocalExecution({ home: local.home, handlers: handlersOf(steps), retryIntervalMs: 1 });

      expect(record.status).toBe('SUCCEEDED');
      expect(steps[failing].calls()).toBe(3);
      expect(callCounts(steps)).toEqual({ extract: 1, transform: 1, load: 1, [failing]: 3 });
      // Each attempt is given the same input.
      expect(new Set(steps[failing].payloads.map((payload) => JSON.stringify(payload))).size).toBe(1);
      expect(record.steps.filter((run) => run.step === failing).map((run) => [run.attempts, run.error?.name])).toEqual([
        [1, errorName],
        [2, errorName],
        [3, undefined],
      ]);
      expect(record.alerts).toEqual([]);
      expect(readNotifications(local.home)).toEqual([]);
      expect(record.output).toMatchObject({ load: { upToBatchId: BATCH_1, loadedBatchIds: [BATCH_1] } });
      expect(await countRows(warehouse.sql, 'fact_sales_order')).toBe(SAMPLE_SALES_ORDERS);
    },
  );

  it('succeeds with a bad row held in quarantine, and sends one alert listing it; the next run after the fix sends none', async () => {
    const local = await startPipeline();
    await totesys.sql`UPDATE sales_order SET agreed_payment_date = '2022-02-30' WHERE sales_order_id = 4`;

    const record = await runLocalExecution({ home: local.home, handlers: local.realHandlers(), retryIntervalMs: 1 });

    expect(record.status).toBe('SUCCEEDED');
    expect(record.output).toMatchObject({ transform: { quarantine: { held: 1, rows: [expect.objectContaining({ table: 'sales_order', key: '4' })] } } });
    expect(await countRows(warehouse.sql, 'fact_sales_order')).toBe(SAMPLE_SALES_ORDERS - 1);
    expect(record.alerts.map((alert) => alert.subject)).toEqual(['ToteSys pipeline succeeded with 1 rows in quarantine']);
    expect(record.alerts[0]!.message).toContain('- sales_order key 4, field agreed_payment_date: "2022-02-30" is not a date (YYYY-MM-DD)');
    expect(readNotifications(local.home)).toHaveLength(1);

    await totesys.sql`UPDATE sales_order SET agreed_payment_date = '2022-03-01' WHERE sales_order_id = 4`;
    const healed = await runLocalExecution({ home: local.home, handlers: local.realHandlers(), retryIntervalMs: 1 });
    expect(healed.status).toBe('SUCCEEDED');
    expect(healed.output).toMatchObject({ transform: { quarantine: { held: 0, released: 0, closed: 1 } } });
    expect(healed.alerts).toEqual([]);
    expect(await countRows(warehouse.sql, 'fact_sales_order')).toBe(SAMPLE_SALES_ORDERS);
  });

  it('fails at once on a permanent error in Transform, with one alert naming the execution, the step, the error and the re-run input', async () => {
    const local = await startPipeline();
    const message = 'Bad input in table sales_order, object s3://totesys-ingestion/tables/sales_order/batch-0000000001/a.jsonl.gz, line 5, field units_sold: "many" is not an integer';
    const steps = countedHandlers(local, {
      transform: async () => {
        throw new BadInputError(message);
      },
    });

    const record = await runLocalExecution({ home: local.home, handlers: handlersOf(steps), retryIntervalMs: 1 });

    expect(record.status).toBe('FAILED');
    expect(record.error).toEqual({ name: 'BadInputError', message });
    // Not retried, and nothing after it ran.
    expect(callCounts(steps)).toEqual({ extract: 1, transform: 1, load: 0 });
    expect(record.alerts).toHaveLength(1);
    const [alert] = record.alerts;
    expect(alert!.subject).toBe('ToteSys pipeline failed at Transform');
    expect(alert!.message).toContain(record.executionArn);
    expect(alert!.message).toContain('failed at step Transform');
    expect(alert!.message).toContain('Error: BadInputError');
    expect(alert!.message).toContain(`Cause: ${message}`);
    expect(alert!.message).toContain('{"resumeFrom":"transform","upToBatchId":"0000000001"}');
    // The same alert, once, in the local SNS stand-in's log.
    expect(readNotifications(local.home)).toEqual([{ at: expect.any(String), execution: record.name, subject: alert!.subject, message: alert!.message }]);
    // The re-run input the alert gives is the one the local runner derives from the record.
    expect(rerunInputFromRecord(record, 'transform')).toEqual({ resumeFrom: 'transform', upToBatchId: BATCH_1 });
    expect(await hasWarehouseTables(warehouse.sql)).toBe(false);
  });

  it('retries a retryable error in Load exactly MaxAttempts (3) more times, then fails with one alert', async () => {
    const local = await startPipeline();
    const steps = countedHandlers(local, {
      load: async (call) => {
        throw new DatabaseUnavailableError(`Warehouse database at 127.0.0.1:1/warehouse is unreachable (attempt ${call})`);
      },
    });

    const record = await runLocalExecution({ home: local.home, handlers: handlersOf(steps), retryIntervalMs: 1 });

    expect(record.status).toBe('FAILED');
    expect(callCounts(steps)).toEqual({ extract: 1, transform: 1, load: 4 });
    expect(record.error).toEqual({ name: 'DatabaseUnavailableError', message: 'Warehouse database at 127.0.0.1:1/warehouse is unreachable (attempt 4)' });
    expect(record.alerts).toHaveLength(1);
    const [alert] = record.alerts;
    expect(alert!.subject).toBe('ToteSys pipeline failed at Load');
    expect(alert!.message).toContain(record.executionArn);
    expect(alert!.message).toContain('failed at step Load');
    expect(alert!.message).toContain('Error: DatabaseUnavailableError');
    expect(alert!.message).toContain('Cause: Warehouse database at 127.0.0.1:1/warehouse is unreachable (attempt 4)');
    expect(alert!.message).toContain('{"resumeFrom":"load","upToBatchId":"0000000001"}');
    expect(readNotifications(local.home)).toHaveLength(1);
  });

  it('skips a scheduled execution started while another is running, without calling any step, and the first still succeeds', async () => {
    const local = await startPipeline();
    const extractStarted = deferred();
    const release = deferred();
    const first = countedHandlers(local, {
      extract: async (_call, real, payload) => {
        extractStarted.resolve();
        await release.promise;
        return real(payload);
      },
    });
    const running = runLocalExecution({ home: local.home, handlers: handlersOf(first), retryIntervalMs: 1, name: 'first' });
    let firstRecord: ExecutionRecord | undefined;
    try {
      await extractStarted.promise;

      const second = { extract: neverCalled('extract'), transform: neverCalled('transform'), load: neverCalled('load') };
      const events: ProgressEvent[] = [];
      const skipped = await runLocalExecution({
        home: local.home,
        handlers: handlersOf(second),
        input: { ...SCHEDULED_INPUT },
        retryIntervalMs: 1,
        overlapPollMs: 1,
        name: 'second',
        onProgress: (event) => events.push(event),
      });

      expect(skipped.status).toBe('SUCCEEDED');
      expect(skipped.output).toEqual({ skipped: 'another run in progress', runningExecution: LOCAL_ARNS.execution('first') });
      expect(callCounts(second)).toEqual({ extract: 0, transform: 0, load: 0 });
      expect(skipped.steps).toEqual([]);
      expect(skipped.alerts).toEqual([]);
      expect(events).toEqual([{ kind: 'skipped' }]);
      expect(await hasWarehouseTables(warehouse.sql)).toBe(false);
    } finally {
      release.resolve();
      firstRecord = await running;
    }

    expect(firstRecord.status).toBe('SUCCEEDED');
    expect(callCounts(first)).toEqual({ extract: 1, transform: 1, load: 1 });
    expect(firstRecord.output).toMatchObject({ load: { loadedBatchIds: [BATCH_1] } });
    expect(await countRows(warehouse.sql, 'fact_sales_order')).toBe(SAMPLE_SALES_ORDERS);

    // Once nothing runs, the next start is not skipped: it finds nothing new and loads nothing.
    const later = countedHandlers(local);
    const next = await runLocalExecution({ home: local.home, handlers: handlersOf(later), retryIntervalMs: 1, name: 'third' });
    expect(next.status).toBe('SUCCEEDED');
    expect(callCounts(later)).toEqual({ extract: 1, transform: 1, load: 1 });
    expect(next.output).toMatchObject({ extract: { batchId: null, upToBatchId: BATCH_1 }, load: { loadedBatchIds: [], upToBatchId: BATCH_1 } });
  });

  it('fails an execution whose resumeFrom is not a step with the error InvalidInput, calling no step', async () => {
    const local = await startPipeline();
    const steps = { extract: neverCalled('extract'), transform: neverCalled('transform'), load: neverCalled('load') };

    const record = await runLocalExecution({ home: local.home, handlers: handlersOf(steps), input: { resumeFrom: 'bogus' }, retryIntervalMs: 1 });

    expect(callCounts(steps)).toEqual({ extract: 0, transform: 0, load: 0 });
    expect(record.steps).toEqual([]);
    expect(record.status).toBe('FAILED');
    // The execution's error is the Fail state's Error and Cause, as Step Functions reports them.
    // (Fails today: scripts/local/execution.ts records the interpreter's wrapper, ExecutionError,
    // instead of the error it wraps in `cause`.)
    expect(record.error).toEqual({ name: 'InvalidInput', message: 'resumeFrom must be "extract", "transform" or "load"' });
  });

  describe('re-running from the failed step', () => {
    // The reference: one uninterrupted run over an identical ToteSys, into a warehouse of its own.
    const referenceTotesys = useTestDatabase('sfn_reference_totesys');
    const referenceWarehouse = useTestDatabase('sfn_reference_warehouse');
    let reference: Record<string, string[]>;

    beforeAll(async () => {
      await seedSampleTotesys(referenceTotesys.sql);
      const local = await startLocalPipeline({ totesysUrl: referenceTotesys.url, warehouseUrl: referenceWarehouse.url });
      try {
        const record = await runLocalExecution({ home: local.home, handlers: local.realHandlers(), retryIntervalMs: 1 });
        expect(record.status).toBe('SUCCEEDED');
      } finally {
        await local.stop();
      }
      reference = await dumpWarehouseContent(referenceWarehouse.sql);
      // The comparison is worth something only if the reference holds every table, filled.
      expect(reference.fact_sales_order).toHaveLength(SAMPLE_SALES_ORDERS);
      for (const table of ['dim_date', 'dim_staff', 'dim_location', 'dim_currency', 'dim_design', 'dim_counterparty', 'dim_transaction', 'dim_payment_type', 'fact_purchase_order', 'fact_payment', 'current_sales_order', 'pipeline.load_ledger', 'pipeline.lakes', 'pipeline.schema_migrations']) {
        expect(reference[table]?.length ?? 0).toBeGreaterThan(0);
      }
    }, 60_000);

    const permanentError: Record<PipelineStep, () => Error> = {
      extract: () => new SchemaDriftError('ToteSys table sales_order: column discount added'),
      transform: () => new BadInputError('Bad input in table sales_order, batch 0000000001: row sales_order_id=6 references staff_id=999'),
      load: () => new PipelineStateError('Batch 0000000001 cannot be loaded: injected'),
    };

    it.each([
      ['extract', 'before doing anything'],
      ['transform', 'before doing anything'],
      ['load', 'before doing anything'],
      // As when the Lambda times out after committing its work: the re-run must find it done and carry on.
      ['extract', 'after committing its work'],
      ['transform', 'after committing its work'],
      ['load', 'after committing its work'],
    ] as const)(
      'a re-run from %s after it failed %s ends with the same warehouse as an uninterrupted run',
      async (step, when) => {
        const local = await startPipeline();
        const failing = countedHandlers(local, {
          [step]: async (_call: number, real: StepHandler, payload: Record<string, unknown>) => {
            if (when === 'after committing its work') {
              await real(payload);
              throw namedError('States.Timeout', `${STEP_STATE[step]} timed out`);
            }
            throw permanentError[step]();
          },
        });
        const failed = await runLocalExecution({ home: local.home, handlers: handlersOf(failing), retryIntervalMs: 1 });
        expect(failed.status).toBe('FAILED');
        expect(failing[step].calls()).toBe(1);
        expect(failed.alerts.map((alert) => alert.subject)).toEqual([`ToteSys pipeline failed at ${STEP_STATE[step]}`]);

        const input = rerunInputFromRecord(failed, step);
        expect(input).toEqual(step === 'extract' ? { resumeFrom: 'extract' } : { resumeFrom: step, upToBatchId: BATCH_1 });
        // The alert gives the operator the same input.
        expect(failed.alerts[0]!.message).toContain(JSON.stringify(input));

        const rerun = countedHandlers(local);
        const record = await runLocalExecution({ home: local.home, handlers: handlersOf(rerun), input, retryIntervalMs: 1 });

        expect(record.error).toBeUndefined();
        expect(record.status).toBe('SUCCEEDED');
        expect(record.alerts).toEqual([]);
        // The re-run starts at the failed step, handed the batch the failed run had reached.
        expect(callCounts(rerun)).toEqual({ extract: step === 'extract' ? 1 : 0, transform: step === 'load' ? 0 : 1, load: 1 });
        if (step !== 'extract') expect(rerun[step].payloads).toEqual([{ executionId: record.executionArn, upToBatchId: BATCH_1 }]);
        expect(record.output).toMatchObject({ load: { upToBatchId: BATCH_1 } });

        expect(await dumpWarehouseContent(warehouse.sql)).toEqual(reference);
      },
    );
  });
});

/**
 * The verification execution (input {"verify": true}) on the same real definition and local
 * interpreter. The Verify task is bound to a stand-in handler returning what the verify function
 * returns (`{ batchId, mismatchedRows, tables }`), and the pipeline's steps to stand-ins that count
 * their calls: a verification must call none of them. No database is needed.
 */
describe('the verification execution, run locally', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'totesys-verify-home-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  const VERIFY = { verify: true };
  // The shape functions/verify returns (counts per table); the definition passes it through as it is.
  const tables = (mismatched: number) => ({
    fact_sales_order: { compared: SAMPLE_SALES_ORDERS, missing: 0, extra: 0, different: mismatched, changedSince: 0 },
    dim_staff: { compared: 20, missing: 0, extra: 0, different: 0, changedSince: 0 },
  });
  const result = (mismatched: number) => ({ batchId: BATCH_1, mismatchedRows: mismatched, tables: tables(mismatched) });
  const noSteps = () => ({ extract: neverCalled('extract'), transform: neverCalled('transform'), load: neverCalled('load') });
  const stepCalls = (steps: ReturnType<typeof noSteps>) => ({ extract: steps.extract.calls(), transform: steps.transform.calls(), load: steps.load.calls() });
  const run = (steps: ReturnType<typeof noSteps>, verify: CountedHandler, extra: { name?: string; input?: Record<string, unknown> } = {}) =>
    runLocalExecution({
      home,
      handlers: { extract: steps.extract.handler, transform: steps.transform.handler, load: steps.load.handler, verify: verify.handler },
      input: extra.input ?? VERIFY,
      retryIntervalMs: 1,
      overlapPollMs: 1,
      name: extra.name,
    });

  it('succeeds when the warehouse equals ToteSys, calling Verify once and no step of the pipeline', async () => {
    const steps = noSteps();
    const verify = counted(async () => result(0));

    const record = await run(steps, verify);

    expect(record.error).toBeUndefined();
    expect(record.status).toBe('SUCCEEDED');
    expect(verify.payloads).toEqual([{ executionId: record.executionArn }]);
    expect(stepCalls(steps)).toEqual({ extract: 0, transform: 0, load: 0 });
    expect(record.output).toEqual({ verify: true, verification: result(0) });
    expect(record.steps.map((s) => [s.step, s.attempts])).toEqual([['verify', 1]]);
    expect(record.alerts).toEqual([]);
    expect(readNotifications(home)).toEqual([]);
  });

  it('fails with WarehouseMismatch, stating the count and what to do, and publishes no alert', async () => {
    const steps = noSteps();
    const verify = counted(async () => result(3));

    const record = await run(steps, verify);

    expect(record.status).toBe('FAILED');
    expect(verify.calls()).toBe(1);
    expect(stepCalls(steps)).toEqual({ extract: 0, transform: 0, load: 0 });
    expect(record.error?.name).toBe('WarehouseMismatch');
    expect(record.error?.message).toContain('The warehouse differs from ToteSys in 3 row(s), compared as of batch 0000000001');
    expect(record.error?.message).toContain('npm run verify');
    expect(record.error?.message).toContain('output of the Verify step');
    // The tables are in the Verify step's output, where the cause sends the operator.
    expect(record.steps).toEqual([expect.objectContaining({ step: 'verify', output: result(3) })]);
    // The MismatchedRows alarm emails; the state machine does not.
    expect(record.alerts).toEqual([]);
    expect(readNotifications(home)).toEqual([]);
  });

  it('retries a transient error in Verify exactly MaxAttempts (3) more times, then alerts once with {"verify":true} as the re-run input', async () => {
    const message = 'ToteSys database at 127.0.0.1:1/totesys is unreachable';
    const verify = counted(async () => {
      throw new DatabaseUnavailableError(message);
    });

    const record = await run(noSteps(), verify);

    expect(record.status).toBe('FAILED');
    expect(verify.calls()).toBe(4);
    expect(record.error).toEqual({ name: 'DatabaseUnavailableError', message });
    expect(record.alerts).toHaveLength(1);
    const [alert] = record.alerts;
    expect(alert!.subject).toBe('ToteSys pipeline failed at Verify');
    expect(alert!.message).toContain(record.executionArn);
    expect(alert!.message).toContain('failed at step Verify');
    expect(alert!.message).toContain(`Error: DatabaseUnavailableError. Cause: ${message}`);
    expect(alert!.message).toContain('this input: {"verify":true}');
    expect(readNotifications(home)).toEqual([{ at: expect.any(String), execution: record.name, subject: alert!.subject, message: alert!.message }]);
  });

  it('succeeds after a transient error in Verify, with no alert; a permanent error is not retried', async () => {
    const flaky = counted(
      async () => result(0),
      async (call, real, payload) => {
        if (call === 1) throw namedError('Lambda.TooManyRequestsException', 'Rate exceeded');
        return real(payload);
      },
    );
    const recovered = await run(noSteps(), flaky);
    expect(recovered.status).toBe('SUCCEEDED');
    expect(flaky.calls()).toBe(2);
    expect(recovered.alerts).toEqual([]);

    const broken = counted(async () => {
      throw namedError('ConfigurationError', 'WAREHOUSE_SECRET_ID is not set');
    });
    const failed = await run(noSteps(), broken);
    expect(failed.status).toBe('FAILED');
    expect(broken.calls()).toBe(1);
    expect(failed.error).toEqual({ name: 'ConfigurationError', message: 'WAREHOUSE_SECRET_ID is not set' });
    expect(failed.alerts.map((a) => a.subject)).toEqual(['ToteSys pipeline failed at Verify']);
  });

  it('runs while a pipeline run is in progress (it skips the overlap guard); a pipeline run started meanwhile is skipped', async () => {
    const extractStarted = deferred();
    const release = deferred();
    const pipelineSteps = {
      extract: counted(async () => {
        extractStarted.resolve();
        await release.promise;
        return { batchId: null, upToBatchId: BATCH_1, totalRows: 0, rows: {} };
      }),
      transform: counted(async () => ({ upToBatchId: BATCH_1, transformedBatchIds: [], rows: {}, quarantine: NOTHING_HELD })),
      load: counted(async () => ({ upToBatchId: BATCH_1, loadedBatchIds: [], rows: {} })),
    };
    const pipelineRun = run(pipelineSteps, counted(async () => result(0)), { name: 'pipeline', input: {} });
    try {
      await extractStarted.promise;
      const verify = counted(async () => result(0));
      const verification = await run(noSteps(), verify, { name: 'verification' });
      expect(verification.status).toBe('SUCCEEDED');
      expect(verify.calls()).toBe(1);
    } finally {
      release.resolve();
    }
    const pipeline = await pipelineRun;
    expect(pipeline.status).toBe('SUCCEEDED');
    expect(pipelineSteps.load.calls()).toBe(1);

    // The overlap guard counts every running execution, verifications included: a scheduled
    // pipeline run started while a verification runs ends at once (the next run carries the changes).
    const verifyRunning = deferred();
    const releaseVerify = deferred();
    const slowVerify = counted(async () => {
      verifyRunning.resolve();
      await releaseVerify.promise;
      return result(0);
    });
    const verifying = run(noSteps(), slowVerify, { name: 'slow-verification' });
    try {
      await verifyRunning.promise;
      const skippedSteps = noSteps();
      const skipped = await run(skippedSteps, neverCalled('extract'), { name: 'skipped', input: { ...SCHEDULED_INPUT } });
      expect(skipped.output).toEqual({ skipped: 'another run in progress', runningExecution: LOCAL_ARNS.execution('slow-verification') });
      expect(stepCalls(skippedSteps)).toEqual({ extract: 0, transform: 0, load: 0 });
    } finally {
      releaseVerify.resolve();
    }
    expect((await verifying).status).toBe('SUCCEEDED');
  });

  it('treats any input but {"verify": true} as a pipeline run', async () => {
    const steps = {
      extract: counted(async () => ({ batchId: null, upToBatchId: null, totalRows: 0, rows: {} })),
      transform: counted(async () => ({ upToBatchId: null, transformedBatchIds: [], rows: {}, quarantine: NOTHING_HELD })),
      load: counted(async () => ({ upToBatchId: null, loadedBatchIds: [], rows: {} })),
    };
    const verify = counted(async () => result(0));
    for (const input of [{ verify: false }, { verify: 'true' }, {}]) {
      const record = await run(steps, verify, { input });
      expect(record.status).toBe('SUCCEEDED');
    }
    expect(verify.calls()).toBe(0);
    expect(steps.extract.calls()).toBe(3);
  });
});

/**
 * The overlap guard on the real definition: which running executions a pipeline run defers to,
 * and what it does about them. ListExecutions is eventually consistent in AWS, so some cases hand
 * the guard a listing of their own (`listRunningExecutions`): one that misses the execution itself,
 * or still lists one that has ended. The steps are stand-ins that count their calls.
 */
describe('the overlap guard, run locally', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'totesys-guard-home-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  const EMPTY_RUN = { batchId: null, upToBatchId: BATCH_1, totalRows: 0, rows: {} };
  const steps = (extract: () => Promise<unknown> = async () => EMPTY_RUN) => ({
    extract: counted(extract),
    transform: counted(async () => ({ upToBatchId: BATCH_1, transformedBatchIds: [], rows: {}, quarantine: NOTHING_HELD })),
    load: counted(async () => ({ upToBatchId: BATCH_1, loadedBatchIds: [], rows: {} })),
  });
  type Steps = ReturnType<typeof steps>;
  const calls = (s: Steps) => ({ extract: s.extract.calls(), transform: s.transform.calls(), load: s.load.calls() });
  const run = (s: Steps, options: Partial<Parameters<typeof runLocalExecution>[0]> = {}) =>
    runLocalExecution({ home, handlers: { extract: s.extract.handler, transform: s.transform.handler, load: s.load.handler }, retryIntervalMs: 1, overlapPollMs: 1, ...options });
  /** A run held in Extract until released. */
  async function holdingRun(name: string) {
    const started = deferred();
    const release = deferred();
    const held = steps(async () => {
      started.resolve();
      await release.promise;
      return EMPTY_RUN;
    });
    const record = run(held, { name });
    await started.promise;
    return { record, release: release.resolve, steps: held };
  }

  it("an operator's run that meets a running execution waits for it, then does all its work", async () => {
    const first = await holdingRun('first');
    let firstEnded = false;
    const second = steps(async () => {
      expect(firstEnded).toBe(true);
      return EMPTY_RUN;
    });
    const waiting = run(second, { name: 'second', overlapPollMs: 20 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls(second)).toEqual({ extract: 0, transform: 0, load: 0 });
    first.release();
    expect((await first.record).status).toBe('SUCCEEDED');
    firstEnded = true;

    const record = await waiting;
    expect(record.status).toBe('SUCCEEDED');
    expect(record.output).not.toHaveProperty('skipped');
    expect(calls(second)).toEqual({ extract: 1, transform: 1, load: 1 });
  });

  it("an operator's re-run fails with AnotherRunInProgress when the earlier run outlasts its wait, calling no step, and its alert re-runs the same input", async () => {
    const first = await holdingRun('first');
    try {
      const rerun = steps();
      const input = { resumeFrom: 'load', upToBatchId: BATCH_1 };
      const record = await run(rerun, { name: 'rerun', input, definition: localDefinition({ overlap: { pollSeconds: 10, maxWaitSeconds: 30 } }) });

      expect(record.status).toBe('FAILED');
      expect(calls(rerun)).toEqual({ extract: 0, transform: 0, load: 0 });
      expect(record.error?.name).toBe(OVERLAP_ERROR);
      expect(record.error?.message).toBe(
        `Execution ${LOCAL_ARNS.execution('first')} of this state machine was still running after this one had waited 30 s for it, so this one did nothing (no step ran). Start this one again, with the same input, once that one has ended.`,
      );
      expect(record.alerts).toHaveLength(1);
      expect(record.alerts[0]!.subject).toBe('ToteSys pipeline failed at WaitForEarlierExecution');
      expect(record.alerts[0]!.message).toContain(JSON.stringify(input));
    } finally {
      first.release();
      await first.record;
    }
  });

  it('does not defer to an execution that started after it, nor to itself, whether or not the listing shows it', async () => {
    const later = new Date(Date.now() + 60_000).toISOString();
    for (const listing of [
      // Itself missing (listing lag), a later run listed.
      () => [{ ExecutionArn: LOCAL_ARNS.execution('later'), Name: 'later', StartDate: later, Status: 'RUNNING' }],
      // Itself listed, and nothing else.
      () => [{ ExecutionArn: LOCAL_ARNS.execution('self'), Name: 'self', StartDate: new Date().toISOString(), Status: 'RUNNING' }],
    ]) {
      const work = steps();
      const record = await run(work, { name: 'self', listRunningExecutions: listing, input: { ...SCHEDULED_INPUT } });
      expect(record.status).toBe('SUCCEEDED');
      expect(calls(work)).toEqual({ extract: 1, transform: 1, load: 1 });
    }
  });

  it('breaks a tie of start times by ARN, so that of two runs started in the same millisecond exactly one waits', async () => {
    const startedTogether = '2026-12-03T10:00:00.000Z';
    // Only Date is frozen: every start time is this instant; timers and I/O run as ever.
    jest.useFakeTimers({
      now: new Date(startedTogether),
      doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'],
    });
    try {
      const listing = () => ['a-run', 'b-run'].map((name) => ({ ExecutionArn: LOCAL_ARNS.execution(name), Name: name, StartDate: startedTogether, Status: 'RUNNING' }));
      const outcomes: Record<string, unknown> = {};
      for (const name of ['a-run', 'b-run']) {
        const work = steps();
        const record = await run(work, { name, listRunningExecutions: listing, input: { ...SCHEDULED_INPUT } });
        expect(record.startedAt).toBe(startedTogether);
        outcomes[name] = (record.output as { skipped?: string }).skipped ? 'skipped' : calls(work);
      }
      expect(outcomes).toEqual({ 'a-run': { extract: 1, transform: 1, load: 1 }, 'b-run': 'skipped' });
    } finally {
      jest.useRealTimers();
    }
  });

  it('waits out an earlier run that the listing still shows after it ended, then runs', async () => {
    let listings = 0;
    const stale = () => {
      listings += 1;
      return listings === 1 ? [{ ExecutionArn: LOCAL_ARNS.execution('ended'), Name: 'ended', StartDate: '2026-01-01T00:00:00.000Z', Status: 'RUNNING' }] : [];
    };
    for (const input of [{}, { ...SCHEDULED_INPUT }]) {
      listings = 0;
      const work = steps();
      const record = await run(work, { listRunningExecutions: stale, input });
      expect(record.status).toBe('SUCCEEDED');
      expect(listings).toBe(2);
      expect(calls(work)).toEqual({ extract: 1, transform: 1, load: 1 });
    }
  });
});
