import type { S3Client } from '@aws-sdk/client-s3';
import { batchIdOf, commitManifest, findManifest, newAttemptId, nextBatchId, previousBatchIdOf, readLatestManifest, readManifest, sequenceOf } from '../shared/batch-manifests';
import { PipelineStateError } from '../shared/errors';
import type { IngestionManifest } from '../shared/ingestion-manifest';
import path from 'node:path';
import { processedDeletionsKey, processedTableKey, type ProcessedManifest, type ProcessedTable } from '../shared/processed-manifest';
import { DIMENSION_NAMES, FACT_NAMES, type WarehouseTableName } from '../shared/warehouse-tables';
import { withDuckDb, type DuckDbSettings } from '../shared/duckdb-session';
import { createCalendarBounds, createCurrencyNameLookup } from './reference-data';
import { runModel, writeModelOutput } from './run-models';
import { uploadFile } from '../shared/s3-files';
import { assertReferencesResolve, openSourceState, saveSourceState } from './source-state';
import { stageIngestedBatch } from './stage-batch';
import { stageDeletions } from './stage-deletions';

export interface TransformDependencies {
  readonly s3: S3Client;
  readonly ingestionBucket: string;
  readonly processedBucket: string;
  readonly duckdb: DuckDbSettings;
  readonly log?: (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void;
  readonly now?: () => Date;
}

/** What Transform hands to the state machine: references and counts, never rows. */
export interface TransformResult {
  /** The newest transformed batch (what Load works up to), or null before the first. */
  readonly latestBatchId: string | null;
  /** The batches this run transformed, oldest first (empty when all were done already). */
  readonly transformedBatchIds: readonly string[];
  readonly rows: Partial<Record<WarehouseTableName, number>>;
}

/**
 * Transforms every committed ingestion batch not yet transformed, in order, up to `upToBatchId`
 * (default: the newest ingestion batch). Each batch is committed on its own, so a failure keeps
 * the batches before it; a batch already transformed is never redone, so re-running is harmless.
 */
export async function transformPendingBatches(deps: TransformDependencies, upToBatchId?: string | null): Promise<TransformResult> {
  const target = upToBatchId ?? (await readLatestManifest<IngestionManifest>(deps.s3, deps.ingestionBucket))?.batchId ?? null;
  let previous = await readLatestManifest<ProcessedManifest>(deps.s3, deps.processedBucket);
  const transformed: string[] = [];
  const rows: Partial<Record<WarehouseTableName, number>> = {};
  if (target) {
    for (let sequence = sequenceOf(nextBatchId(previous?.batchId)); sequence <= sequenceOf(target); sequence += 1) {
      previous = await transformBatch(deps, batchIdOf(sequence), previous);
      transformed.push(previous.batchId);
      for (const [table, output] of Object.entries(previous.tables)) rows[table as WarehouseTableName] = (rows[table as WarehouseTableName] ?? 0) + output.rows;
    }
  }
  return { latestBatchId: previous?.batchId ?? null, transformedBatchIds: transformed, rows };
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
  log('info', 'transform started', { batchId, attemptId });

  const manifest = await withDuckDb(deps.duckdb, async (session) => {
    const sourceRows = await stageIngestedBatch(session, deps.s3, deps.ingestionBucket, ingested);
    const deletions = await stageDeletions(session, deps.s3, deps.ingestionBucket, ingested);
    await openSourceState(session, deps.s3, deps.processedBucket, previous?.state, batchId);
    await assertReferencesResolve(session, batchId);
    for (const code of await createCurrencyNameLookup(session)) {
      log('warn', 'unknown currency code: its name is the code', { batchId, table: 'dim_currency', currencyCode: code });
    }

    const tables: Partial<Record<WarehouseTableName, ProcessedTable>> = {};
    const counts = new Map<WarehouseTableName, number>();
    for (const fact of FACT_NAMES) counts.set(fact, await runModel(session, fact));
    const calendar = await createCalendarBounds(session, previous?.state.calendar ?? null);
    for (const dimension of DIMENSION_NAMES) {
      if (dimension === 'dim_date' && !calendar.changed) continue;
      counts.set(dimension, await runModel(session, dimension));
    }
    for (const [table, rows] of counts) {
      if (rows === 0) continue;
      const key = processedTableKey(table, batchId, attemptId);
      await uploadFile(deps.s3, deps.processedBucket, key, await writeModelOutput(session, table), 'application/vnd.apache.parquet');
      tables[table] = { key, rows };
      log('info', 'table transformed', { batchId, table, rows });
    }
    let deleted: ProcessedTable | undefined;
    if (deletions > 0) {
      const key = processedDeletionsKey(batchId, attemptId);
      const file = path.join(session.dir, 'out', 'source_row_deletions.parquet');
      await session.run(`COPY out_source_row_deletions TO $1 (FORMAT parquet, COMPRESSION zstd)`, [file]);
      await uploadFile(deps.s3, deps.processedBucket, key, file, 'application/vnd.apache.parquet');
      deleted = { key, rows: deletions };
      log('info', 'deletions transformed', { batchId, table: 'source_row_deletions', rows: deletions });
    }
    const sources = await saveSourceState(session, deps.s3, deps.processedBucket, previous?.state, batchId, attemptId);
    const result: ProcessedManifest = {
      formatVersion: 1,
      batchId,
      previousBatchId: previous?.batchId ?? null,
      attemptId,
      lake: { ...ingested.lake, ingestion: `s3://${deps.ingestionBucket}` },
      transformedAt: (deps.now?.() ?? new Date()).toISOString(),
      tables,
      ...(deleted ? { deletions: deleted } : {}),
      state: { sources, calendar: calendar.range },
    };
    log('info', 'batch staged', { batchId, sourceRows });
    return result;
  });

  await commitManifest(deps.s3, deps.processedBucket, manifest);
  log('info', 'batch committed', { batchId, durationMs: Date.now() - started });
  return manifest;
}
