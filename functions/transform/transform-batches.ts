import type { S3Client } from '@aws-sdk/client-s3';
import { batchIdOf, commitManifest, findManifest, newAttemptId, nextBatchId, previousBatchIdOf, readLatestManifest, readManifest, sequenceOf } from '../shared/batch-manifests';
import { PipelineStateError } from '../shared/errors';
import { LOG_EVENTS, type TransformLogEvent } from '../shared/log-events';
import type { TransformOutput } from '../shared/step-contract';
import type { IngestionManifest } from '../shared/ingestion-manifest';
import path from 'node:path';
import { processedDeletionsKey, processedTableKey, type ProcessedManifest, type ProcessedTable } from '../shared/processed-manifest';
import type { WarehouseTableName } from '../shared/warehouse-tables';
import { withDuckDb, type DuckDbSettings } from '../shared/duckdb-session';
import { createPreviousCalendarRange, readCalendarRange } from './calendar-state';
import { createCurrencyNameLookup } from './reference-data';
import { holdDanglingReferences } from './reference-checks';
import { runModels, writeModelOutput } from './run-models';
import { allUploaded, bucketFiles, uploadFile } from '../shared/s3-files';
import { DEFAULT_ROW_POLICY, describeHeldRow, quarantineKey, readHeldRows, writeHeldRows, type HeldRow, type RowPolicy } from '../shared/quarantine';
import { openSourceState, saveSourceState } from './source-state';
import { stageIngestedBatch } from './stage-batch';
import { stageDeletions } from './stage-deletions';
import { CURRENT_STATE_TABLES } from './models/models';

export interface TransformDependencies {
  readonly s3: S3Client;
  readonly ingestionBucket: string;
  readonly processedBucket: string;
  readonly duckdb: DuckDbSettings;
  /** What a bad row does: held in quarantine (the default) or, strict, fails its batch. */
  readonly rows?: RowPolicy;
  readonly log?: (level: 'info' | 'warn', event: TransformLogEvent, fields: Record<string, unknown>) => void;
  readonly now?: () => Date;
}

/** How many held rows a result lists: enough to act on, small enough for a state machine's payload. */
export const QUARANTINE_ROWS_LISTED = 20;

/**
 * Transforms every committed ingestion batch not yet transformed, in order, up to `upToBatchId`
 * (default: the newest ingestion batch). Each batch is committed on its own, so a failure keeps
 * the batches before it; a batch already transformed is never redone, so re-running is harmless.
 */
export async function transformPendingBatches(deps: TransformDependencies, upToBatchId?: string | null): Promise<TransformOutput> {
  const target = upToBatchId ?? (await readLatestManifest<IngestionManifest>(deps.s3, deps.ingestionBucket))?.batchId ?? null;
  let previous = await readLatestManifest<ProcessedManifest>(deps.s3, deps.processedBucket);
  const transformed: string[] = [];
  const rows: Partial<Record<WarehouseTableName, number>> = {};
  const changes = { added: 0, released: 0, closed: 0 };
  if (target) {
    for (let sequence = sequenceOf(nextBatchId(previous?.batchId)); sequence <= sequenceOf(target); sequence += 1) {
      previous = await transformBatch(deps, batchIdOf(sequence), previous);
      transformed.push(previous.batchId);
      for (const [table, output] of Object.entries(previous.tables)) rows[table as WarehouseTableName] = (rows[table as WarehouseTableName] ?? 0) + output.rows;
      changes.added += previous.quarantine?.added ?? 0;
      changes.released += previous.quarantine?.released ?? 0;
      changes.closed += previous.quarantine?.closed ?? 0;
    }
  }
  const held = await readHeldRows(deps.s3, deps.processedBucket, previous?.quarantine?.key);
  const listed = held.slice(0, QUARANTINE_ROWS_LISTED).map(({ table, key, field, reason, batchId, heldSince }) => ({ table, key, field, reason, batchId, heldSince }));
  const quarantine = { held: held.length, ...changes, rows: listed, message: quarantineMessage(held, changes, deps.processedBucket) };
  return { upToBatchId: previous?.batchId ?? null, transformedBatchIds: transformed, rows, quarantine };
}

/** The alert of a run with rows held: one line a row (the first few), and what to do. */
export function quarantineMessage(held: readonly HeldRow[], changes: { added: number; released: number; closed: number }, processedBucket: string): string {
  if (held.length === 0) return '';
  const more = held.length - QUARANTINE_ROWS_LISTED;
  return [
    `${held.length} ToteSys row(s) are held in quarantine; everything else was loaded. This run: ${changes.added} held, ${changes.released} released, ${changes.closed} closed.`,
    ...held.slice(0, QUARANTINE_ROWS_LISTED).map((row) => `- ${describeHeldRow(row)}`),
    ...(more > 0 ? [`… and ${more} more.`] : []),
    `Every batch retries them: a row fixed in ToteSys, or whose referenced row arrives, flows in by itself. List them all with npm run quarantine (PROCESSED_BUCKET=${processedBucket} in AWS); the policy is in docs/quarantine.md.`,
  ].join('\n');
}

/**
 * Turns ingestion batch `batchId` into the warehouse tables, as Parquet in the processed bucket,
 * given the processed manifest of the batch before it. Nothing becomes visible to Load until the
 * manifest is committed, last; a failure anywhere leaves only unreferenced objects.
 */
export async function transformBatch(deps: TransformDependencies, batchId: string, previous: ProcessedManifest | undefined): Promise<ProcessedManifest> {
  const log = deps.log ?? (() => {});
  const done = await findManifest<ProcessedManifest>(deps.s3, deps.processedBucket, batchId);
  if (done) return done;
  const expectedPrevious = previousBatchIdOf(batchId);
  if (previous?.batchId !== expectedPrevious) {
    throw new PipelineStateError(`Batch ${batchId} cannot be transformed before batch ${expectedPrevious} (the newest transformed is ${previous?.batchId ?? 'none'})`);
  }
  const ingested = await readManifest<IngestionManifest>(deps.s3, deps.ingestionBucket, batchId);
  if (previous?.lake && ingested.lake && previous.lake.lakeId !== ingested.lake.lakeId) {
    throw new PipelineStateError(
      `The processed bucket ${deps.processedBucket} holds batches of lake ${previous.lake.lakeId} (${previous.lake.source}, ingestion ${previous.lake.ingestion}), ` +
        `but batch ${batchId} of the ingestion bucket ${deps.ingestionBucket} is of lake ${ingested.lake.lakeId} (${ingested.lake.source}): the ingestion bucket was reset or replaced. ` +
        `Ways out: give this lake an empty processed bucket (locally, a fresh PIPELINE_HOME), then load it into a fresh warehouse or rebuild the warehouse from it (npm run rebuild-warehouse -- --yes); ` +
        `or point INGESTION_BUCKET back at lake ${previous.lake.lakeId}.`,
    );
  }
  const attemptId = newAttemptId(deps.now?.());
  const started = Date.now();
  log('info', LOG_EVENTS.transform.started, { batchId, attemptId });

  const policy = deps.rows ?? DEFAULT_ROW_POLICY;
  const previouslyHeld = await readHeldRows(deps.s3, deps.processedBucket, previous?.quarantine?.key);
  const manifest = await withDuckDb(deps.duckdb, async (session) => {
    // Every object the batch reads is downloaded at once: its tables, its deletions, the state parts.
    const ingestion = bucketFiles(deps.s3, deps.ingestionBucket, path.join(session.dir, 'ingested'));
    const processed = bucketFiles(deps.s3, deps.processedBucket, path.join(session.dir, 'state'));
    ingestion.prefetch([...Object.values(ingested.tables), ...Object.values(ingested.deletions ?? {})].map((object) => object.key));
    processed.prefetch(CURRENT_STATE_TABLES.flatMap((name) => previous?.state.sources[name] ?? []));
    try {
      const deletions = await stageDeletions(session, ingestion, ingested);
      const staged = await stageIngestedBatch(session, ingestion, ingested, policy, previouslyHeld);
      const sourceRows = staged.rows;
      await openSourceState(session, processed, previous?.state, batchId);
      const quarantine = await holdDanglingReferences(session, staged, batchId, policy);
      for (const row of quarantine.added) log('warn', LOG_EVENTS.transform.rowQuarantined, { batchId, table: row.table, key: row.key, field: row.field, reason: row.reason, line: row.line });
      for (const row of quarantine.released) log('info', LOG_EVENTS.transform.rowReleased, { batchId, table: row.table, key: row.key, heldSince: row.heldSince });
      for (const row of quarantine.closed) log('info', LOG_EVENTS.transform.quarantinedRowClosed, { batchId, table: row.table, key: row.key, because: row.because });

      await createPreviousCalendarRange(session, previous?.state.calendar ?? null);
      const built = await runModels(session, {
        currency_name_lookup: async (session) => {
          for (const code of await createCurrencyNameLookup(session)) log('warn', LOG_EVENTS.transform.unknownCurrency, { batchId, table: 'dim_currency', currencyCode: code });
        },
      });
      const calendar = await readCalendarRange(session);
      const tables: Partial<Record<WarehouseTableName, ProcessedTable>> = {};
      const uploads: Promise<void>[] = [];
      for (const { model, rows } of built) {
        // A table the batch did not touch has no object (dim_date has rows only when its range widened).
        if (!model.warehouseTable || rows === 0) continue;
        const table = model.warehouseTable;
        const key = processedTableKey(table, batchId, attemptId);
        tables[table] = { key, rows };
        // DuckDB writes the files one by one; their uploads overlap (most are one small request).
        const file = await writeModelOutput(session, table);
        uploads.push(uploadFile(deps.s3, deps.processedBucket, key, file, 'application/vnd.apache.parquet'));
      }
      await allUploaded(uploads);
      for (const [table, { rows }] of Object.entries(tables)) log('info', LOG_EVENTS.transform.tableTransformed, { batchId, table, rows });
      let deleted: ProcessedTable | undefined;
      if (deletions > 0) {
        const key = processedDeletionsKey(batchId, attemptId);
        const file = path.join(session.dir, 'out', 'source_row_deletions.parquet');
        await session.run(`COPY out_source_row_deletions TO $1 (FORMAT parquet, COMPRESSION zstd)`, [file]);
        await uploadFile(deps.s3, deps.processedBucket, key, file, 'application/vnd.apache.parquet');
        deleted = { key, rows: deletions };
        log('info', LOG_EVENTS.transform.deletionsTransformed, { batchId, table: 'source_row_deletions', rows: deletions });
      }
      const sources = await saveSourceState(session, deps.s3, deps.processedBucket, previous?.state, batchId, attemptId);
      let heldKey: string | undefined;
      if (quarantine.held.length > 0) {
        heldKey = quarantineKey(batchId, attemptId);
        await writeHeldRows(deps.s3, deps.processedBucket, heldKey, quarantine.held);
      }
      const held = { held: quarantine.held.length, added: quarantine.added.length, released: quarantine.released.length, closed: quarantine.closed.length };
      const result: ProcessedManifest = {
        formatVersion: 1,
        batchId,
        previousBatchId: previous?.batchId ?? null,
        attemptId,
        lake: { ...ingested.lake, ingestion: `s3://${deps.ingestionBucket}` },
        transformedAt: (deps.now?.() ?? new Date()).toISOString(),
        tables,
        ...(deleted ? { deletions: deleted } : {}),
        ...(held.held + held.added + held.released + held.closed > 0 ? { quarantine: { ...(heldKey ? { key: heldKey } : {}), ...held } } : {}),
        state: { sources, calendar },
      };
      log('info', LOG_EVENTS.transform.batchStaged, { batchId, sourceRows });
      return result;
    } finally {
      await Promise.all([ingestion.settled(), processed.settled()]);
    }
  });

  await commitManifest(deps.s3, deps.processedBucket, manifest);
  log('info', LOG_EVENTS.transform.batchCommitted, { batchId, durationMs: Date.now() - started });
  return manifest;
}
