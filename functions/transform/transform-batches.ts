import type { S3Client } from '@aws-sdk/client-s3';
import { batchIdOf, commitManifest, findManifest, newAttemptId, nextBatchId, previousBatchIdOf, readLatestManifest, readManifest, sequenceOf } from '../shared/batch-manifests';
import { PipelineStateError } from '../shared/errors';
import type { IngestionManifest } from '../shared/ingestion-manifest';
import path from 'node:path';
import { processedDeletionsKey, processedTableKey, type ProcessedManifest, type ProcessedTable } from '../shared/processed-manifest';
import { DIMENSION_NAMES, FACT_NAMES, type WarehouseTableName } from '../shared/warehouse-tables';
import { withDuckDb, type DuckDbSession, type DuckDbSettings } from '../shared/duckdb-session';
import { createCalendarBounds, createCurrencyNameLookup } from './reference-data';
import { runModel, writeModelOutput } from './run-models';
import { uploadFile } from '../shared/s3-files';
import { BadInputError } from '../shared/errors';
import { TOTESYS_TABLES } from '../shared/totesys-tables';
import { DEFAULT_ROW_POLICY, describeHeldRow, quarantineKey, readHeldRows, writeHeldRows, type HeldRow, type QuarantineChanges, type RowPolicy } from '../shared/quarantine';
import { openSourceState, saveSourceState, takeOutDanglingReferences } from './source-state';
import { linesWithKeys, stageIngestedBatch, type StagedBatch } from './stage-batch';
import { stageDeletions } from './stage-deletions';

export interface TransformDependencies {
  readonly s3: S3Client;
  readonly ingestionBucket: string;
  readonly processedBucket: string;
  readonly duckdb: DuckDbSettings;
  /** What a bad row does: held in quarantine (the default) or, strict, fails its batch. */
  readonly rows?: RowPolicy;
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
  readonly quarantine: QuarantineSummary;
}

/** The quarantine after this run, and what the run's batches did to it. */
export interface QuarantineSummary {
  readonly held: number;
  readonly added: number;
  readonly released: number;
  readonly closed: number;
  /** The first held rows, to show and alert on (the processed bucket holds them all). */
  readonly rows: readonly QuarantinedRowSummary[];
  /** The alert's text when rows are held (empty otherwise): what is held, why, and what happens next. */
  readonly message: string;
}

export interface QuarantinedRowSummary {
  readonly table: string;
  readonly key: string | null;
  readonly field: string | null;
  readonly reason: string;
  readonly batchId: string;
  readonly heldSince: string;
}

/** How many held rows a result lists: enough to act on, small enough for a state machine's payload. */
export const QUARANTINE_ROWS_LISTED = 20;

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
  return { latestBatchId: previous?.batchId ?? null, transformedBatchIds: transformed, rows, quarantine };
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
  log('info', 'transform started', { batchId, attemptId });

  const policy = deps.rows ?? DEFAULT_ROW_POLICY;
  const previouslyHeld = await readHeldRows(deps.s3, deps.processedBucket, previous?.quarantine?.key);
  const manifest = await withDuckDb(deps.duckdb, async (session) => {
    const deletions = await stageDeletions(session, deps.s3, deps.ingestionBucket, ingested);
    const staged = await stageIngestedBatch(session, deps.s3, deps.ingestionBucket, ingested, policy, previouslyHeld);
    const sourceRows = staged.rows;
    await openSourceState(session, deps.s3, deps.processedBucket, previous?.state, batchId);
    const quarantine = await holdDanglingReferences(session, staged, batchId, policy);
    for (const row of quarantine.added) log('warn', 'row quarantined', { batchId, table: row.table, key: row.key, field: row.field, reason: row.reason, line: row.line });
    for (const row of quarantine.released) log('info', 'row released from quarantine', { batchId, table: row.table, key: row.key, heldSince: row.heldSince });
    for (const row of quarantine.closed) log('info', 'quarantined row closed', { batchId, table: row.table, key: row.key, because: row.because });
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
      state: { sources, calendar: calendar.range },
    };
    log('info', 'batch staged', { batchId, sourceRows });
    return result;
  });

  await commitManifest(deps.s3, deps.processedBucket, manifest);
  log('info', 'batch committed', { batchId, durationMs: Date.now() - started });
  return manifest;
}

/**
 * The references check, after staging: a row whose reference dangles is held (strict: the batch
 * fails, unless the row is a held one being retried, which simply stays held). Returns what the
 * batch did to the quarantine.
 */
async function holdDanglingReferences(session: DuckDbSession, staged: StagedBatch, batchId: string, policy: RowPolicy): Promise<QuarantineChanges> {
  const dangling = await takeOutDanglingReferences(session);
  const retried = new Map(staged.retried.map((row) => [`${row.table}/${row.key}`, row]));
  const fromBatch = dangling.filter((row) => !retried.has(`${row.table}/${row.key}`));
  if (policy.strict && fromBatch.length > 0) {
    const first = fromBatch[0]!;
    throw new BadInputError(`Bad input in table ${first.table}, batch ${batchId}: row ${TOTESYS_TABLES[first.table].primaryKey}=${first.key} ${first.reason}`);
  }
  const stillHeld = [...staged.stillHeld];
  for (const row of dangling) {
    const again = retried.get(`${row.table}/${row.key}`);
    if (!again) continue;
    retried.delete(`${row.table}/${row.key}`);
    stillHeld.push({ ...again, field: row.field, reason: row.reason });
  }
  const added: HeldRow[] = [...staged.added];
  for (const table of new Set(fromBatch.map((row) => row.table))) {
    const source = staged.files[table]!;
    const rows = fromBatch.filter((row) => row.table === table);
    const lines = await linesWithKeys(source.file, TOTESYS_TABLES[table].primaryKey, new Set(rows.map((row) => row.key)));
    for (const row of rows) {
      const line = lines.get(row.key)!;
      added.push({ ...row, batchId, object: source.object, line: line.line, text: line.text, heldSince: batchId, lastTried: batchId });
    }
  }
  return { held: [...stillHeld, ...added], added, released: [...retried.values()], closed: staged.closed };
}
