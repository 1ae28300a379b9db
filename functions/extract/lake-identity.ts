import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import type { TransactionSql as Sql } from 'postgres';
import { BatchConflictError, PipelineStateError } from '../shared/errors';
import { LAKE_IDENTITY_KEY, type LakeReference } from '../shared/ingestion-manifest';
import { isNotFound, isWriteConflict } from '../shared/s3';

/**
 * A lake's identity: an id born with its first extract, and the ToteSys database it is extracted
 * from. The extraction state (snapshots, transaction ids, key sets) means something only for that
 * database, so a run against another one is refused rather than reading it with the wrong state.
 */
export interface SourceIdentity {
  readonly database: string;
  readonly databaseOid: string;
  /** The cluster's system identifier; null where the server does not let the user read it. */
  readonly systemIdentifier: string | null;
}

export interface LakeIdentity {
  readonly formatVersion: 1;
  readonly lakeId: string;
  readonly createdAt: string;
  readonly source: SourceIdentity;
}

export async function readSourceIdentity(sql: Sql): Promise<SourceIdentity> {
  const [database] = await sql<{ name: string; oid: string }[]>`
    SELECT current_database() AS name, oid::text AS oid FROM pg_database WHERE datname = current_database()`;
  let systemIdentifier: string | null = null;
  try {
    await sql.savepoint(async (sp) => {
      const [control] = await sp<{ id: string }[]>`SELECT system_identifier::text AS id FROM pg_control_system()`;
      systemIdentifier = control?.id ?? null;
    });
  } catch {
    // Not every managed server lets a plain user read the control data: the database's own oid and name remain.
  }
  return { database: database!.name, databaseOid: database!.oid, systemIdentifier };
}

/** True when two identities name one database: its name and oid, and its cluster where both know it. */
export function isSameSource(a: SourceIdentity, b: SourceIdentity): boolean {
  return (
    a.database === b.database &&
    a.databaseOid === b.databaseOid &&
    (a.systemIdentifier === null || b.systemIdentifier === null || a.systemIdentifier === b.systemIdentifier)
  );
}

export function describeSource(source: SourceIdentity): string {
  return `database ${source.database} (oid ${source.databaseOid}${source.systemIdentifier ? `, cluster ${source.systemIdentifier}` : ''})`;
}

export function lakeReference(identity: LakeIdentity): LakeReference {
  return { lakeId: identity.lakeId, source: describeSource(identity.source) };
}

/** The lake's identity, created on the first run; refuses a ToteSys that is not the lake's source. */
export async function ensureLakeIdentity(s3: S3Client, bucket: string, source: SourceIdentity, now: Date): Promise<LakeIdentity> {
  let identity = await readLakeIdentity(s3, bucket);
  if (!identity) {
    const created: LakeIdentity = { formatVersion: 1, lakeId: randomUUID(), createdAt: now.toISOString(), source };
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: LAKE_IDENTITY_KEY, Body: JSON.stringify(created, null, 2), ContentType: 'application/json', IfNoneMatch: '*' }));
      identity = created;
    } catch (error) {
      if (!isWriteConflict(error)) throw error;
      identity = await readIdentityCreatedByAnotherRun(s3, bucket);
    }
  }
  if (!isSameSource(identity.source, source)) {
    throw new PipelineStateError(
      `The ingestion bucket ${bucket} is lake ${identity.lakeId}, extracted from ToteSys ${describeSource(identity.source)}, ` +
        `but TOTESYS points at ${describeSource(source)}: its extraction state does not apply there, so nothing was extracted. ` +
        `Ways out: point TOTESYS_DATABASE_URL (in AWS, the ToteSys secret) back at the lake's database; or start a new lake for this database ` +
        `(new, empty ingestion and processed buckets; locally a fresh PIPELINE_HOME) and then load it into a fresh warehouse or rebuild the warehouse from it (npm run rebuild-warehouse -- --yes).`,
    );
  }
  return identity;
}

/**
 * Another run's first extract won the race to create the identity. Its write may still be in
 * flight (S3 answers 409 then, and shows the object only once whole), so it is read again for a
 * few seconds before giving up with the retryable conflict the state machine retries.
 */
async function readIdentityCreatedByAnotherRun(s3: S3Client, bucket: string): Promise<LakeIdentity> {
  for (const delayMs of [0, 50, 200, 500, 1000, 2000]) {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const identity = await readLakeIdentity(s3, bucket);
    if (identity) return identity;
  }
  throw new BatchConflictError(`Another run is creating the identity of the lake in bucket ${bucket} (${LAKE_IDENTITY_KEY}) and has not finished it`);
}

/** The lake's identity, or undefined before the first extract. */
export async function readLakeIdentity(s3: S3Client, bucket: string): Promise<LakeIdentity | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: LAKE_IDENTITY_KEY }));
    return JSON.parse(await object.Body!.transformToString('utf-8')) as LakeIdentity;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
