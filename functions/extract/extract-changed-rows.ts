import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { gzipSync } from 'node:zlib';
import type { Sql, TransactionSql } from 'postgres';
import { setLocal } from '../shared/database';
import { PipelineStateError } from '../shared/errors';
import { LOG_EVENTS, type ExtractLogEvent, type LogEventWriter } from '../shared/log-events';
import type { ExtractOutput } from '../shared/step-contract';
import { commitManifest, newAttemptId, nextBatchId, readLatestManifest } from '../shared/batch-manifests';
import { deletionsObjectKey, ingestionObjectKey, keySetsObjectKey, type IngestedTable, type IngestionManifest } from '../shared/ingestion-manifest';
import { TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type TotesysTableName } from '../shared/totesys-tables';
import { canPrefilterCurrent, carriedCommittedXids, committedXidsSql, extractionBounds, formatSnapshot, parseSnapshot, scanMode, type ScanMode, type Snapshot } from './row-versions';
import type { KeyRanges } from './key-ranges';
import { nextKeySet, readKeySets, readWholeKeySet, writeKeySets } from './key-sets';
import { ensureLakeIdentity, lakeReference, readSourceIdentity } from './lake-identity';
import { assertSourceSchema } from './schema-drift';
import { uploadChangedRows } from './upload-changed-rows';

export interface ExtractDependencies {
  /** ToteSys, read-only use. */
  readonly totesys: Sql;
  readonly s3: S3Client;
  readonly ingestionBucket: string;
  readonly log?: LogEventWriter<ExtractLogEvent>;
  readonly now?: () => Date;
}

/**
 * Extracts every ToteSys row version that is new since the last committed batch, for all tables,
 * from one consistent snapshot, into the ingestion bucket; then commits the batch by writing its
 * manifest. A failure before the manifest leaves only unreferenced objects of that attempt: the
 * state (the latest manifest) is unchanged and the next run extracts the same changes again.
 */
export async function extractChangedRows(deps: ExtractDependencies): Promise<ExtractOutput> {
  const log = deps.log ?? (() => {});
  const now = deps.now ?? (() => new Date());
  const previous = await readLatestManifest<IngestionManifest>(deps.s3, deps.ingestionBucket);
  const batchId = nextBatchId(previous?.batchId);
  const attemptId = newAttemptId(now());
  log(LOG_EVENTS.extract.started, { batchId, attemptId, previousBatchId: previous?.batchId ?? null });
  const previousKeySets = previous?.state.keySetsKey ? await readKeySets(deps.s3, deps.ingestionBucket, previous.state.keySetsKey) : undefined;

  return deps.totesys.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
    // The first statement fixes the transaction's snapshot: every table is read as of this instant.
    const [{ snapshot: snapshotText }] = (await tx`SELECT pg_current_snapshot()::text AS snapshot`) as unknown as [{ snapshot: string }];
    const snapshot = parseSnapshot(snapshotText);
    // The schema first: a lake's identity is never born from a database that is not ToteSys.
    await assertSourceSchema(tx, Object.values(TOTESYS_TABLES));
    const lake = await ensureLakeIdentity(deps.s3, deps.ingestionBucket, await readSourceIdentity(tx), now());
    if (previous && parseSnapshot(previous.state.snapshot).xmax > snapshot.xmax) {
      throw new PipelineStateError(
        `ToteSys transaction ids went backwards (batch ${previous.batchId} saw ${previous.state.snapshot}, now ${snapshotText}): ` +
          'the database was restored or replaced, so the extraction state no longer applies; start a new ingestion bucket or prefix',
      );
    }
    // The bounds the scans read, and no JIT: it compiles each scan's expressions again, every
    // statement (5–30 ms each), to save less than that on the few rows most scans return.
    await setLocal(tx, { ...extractionBounds(snapshot, previous?.state), jit: 'off' });
    if (previous && !previousKeySets) log(LOG_EVENTS.extract.noPreviousKeySets, { batchId });

    const mode = scanMode(snapshot, previous?.state);
    const tables: Partial<Record<TotesysTableName, IngestedTable>> = {};
    const deletions: Partial<Record<TotesysTableName, IngestedTable>> = {};
    const keySets: Partial<Record<TotesysTableName, KeyRanges>> = {};
    // An incremental extract gathers the keys of the rows it extracts, for the key sets; every extract, their writers (the committed ids).
    const prefilter = canPrefilterCurrent(snapshot);
    const writers = new Set<string>();
    for (const name of TOTESYS_TABLE_NAMES) {
      const started = Date.now();
      const table = TOTESYS_TABLES[name];
      const previousKeys = previousKeySets?.tables[name];
      const extractedKeys: number[] | undefined = mode === 'all' ? undefined : [];
      const key = ingestionObjectKey(name, batchId, attemptId);
      const ingested = await uploadChangedRows(tx, deps.s3, deps.ingestionBucket, table, { mode, prefilter, key, writers, keys: extractedKeys });
      if (ingested) tables[name] = ingested;
      let deleted: number[] = [];
      if (previousKeys && extractedKeys) {
        const next = await nextKeySet(tx, table, previousKeys, extractedKeys);
        keySets[name] = next.keys;
        deleted = next.deleted;
      } else {
        keySets[name] = await readWholeKeySet(tx, table);
      }
      if (deleted.length > 0) deletions[name] = await uploadDeletedKeys(deps.s3, deps.ingestionBucket, table.primaryKey, deleted, deletionsObjectKey(name, batchId, attemptId));
      log(LOG_EVENTS.extract.tableExtracted, { batchId, table: name, rows: ingested?.rows ?? 0, bytes: ingested?.bytes ?? 0, deleted: deleted.length, durationMs: Date.now() - started });
    }
    const totalRows = Object.values(tables).reduce((sum, table) => sum + table.rows, 0);
    const totalDeletions = Object.values(deletions).reduce((sum, table) => sum + table.rows, 0);
    if (totalRows === 0 && totalDeletions === 0 && previousKeySets) {
      log(LOG_EVENTS.extract.nothingChanged, { upToBatchId: previous?.batchId ?? null });
      return { batchId: null, manifestKey: null, upToBatchId: previous?.batchId ?? null, rows: {}, deleted: {}, totalRows: 0 };
    }

    const keySetsKey = keySetsObjectKey(batchId, attemptId);
    await writeKeySets(deps.s3, deps.ingestionBucket, keySetsKey, { formatVersion: 1, batchId, tables: keySets });
    const committedXids = await readCommittedXids(tx, snapshot, mode, previous?.state, writers);
    const manifest: IngestionManifest = {
      formatVersion: 1,
      batchId,
      previousBatchId: previous?.batchId ?? null,
      attemptId,
      lake: lakeReference(lake),
      extractedAt: now().toISOString(),
      range: { from: previous?.state.snapshot ?? null, to: formatSnapshot(snapshot) },
      state: { snapshot: formatSnapshot(snapshot), committedXids, keySetsKey },
      tables,
      totalRows,
      deletions,
      totalDeletions,
    };
    const manifestKey = await commitManifest(deps.s3, deps.ingestionBucket, manifest);
    const counts = (entries: Partial<Record<TotesysTableName, IngestedTable>>) =>
      Object.fromEntries(Object.entries(entries).map(([name, table]) => [name, table.rows]));
    log(LOG_EVENTS.extract.batchCommitted, { batchId, manifestKey, totalRows, totalDeletions });
    return { batchId, manifestKey, upToBatchId: batchId, rows: counts(tables), deleted: counts(deletions), totalRows };
  });
}

/**
 * The ids at or above the snapshot's xmin of the transactions whose rows it sees, ascending (the
 * next extract's bound, row-versions.ts), from the writers of the rows this extract read, which
 * its COPY gives with the rows: a first extract reads every row, so they are the whole set; an
 * incremental one adds them to the previous batch's ids still at or above the xmin
 * (`carriedCommittedXids`). Only an incremental extract whose snapshot's xmin went back below the
 * previous one's reads every table again for them.
 */
async function readCommittedXids(
  tx: TransactionSql,
  snapshot: Snapshot,
  mode: ScanMode,
  previous: IngestionManifest['state'] | undefined,
  writers: ReadonlySet<string>,
): Promise<string[]> {
  const carried = mode === 'all' ? [] : previous && carriedCommittedXids(previous, snapshot);
  if (!carried) return (await tx.unsafe(committedXidsSql(Object.values(TOTESYS_TABLES), canPrefilterCurrent(snapshot)))).map((row) => String(row.id));
  const ids = new Set(carried);
  for (const id of writers) ids.add(BigInt(id));
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String);
}

/** The deleted keys of one table as a gzipped JSONL object, one `{"<primary key>": n}` a line. */
async function uploadDeletedKeys(s3: S3Client, bucket: string, primaryKey: string, keys: readonly number[], key: string): Promise<IngestedTable> {
  const body = gzipSync(keys.map((k) => `${JSON.stringify({ [primaryKey]: k })}\n`).join(''));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/gzip', IfNoneMatch: '*' }));
  return { key, rows: keys.length, bytes: body.length };
}
