import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { TransactionSql as Sql } from 'postgres';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PipelineStateError } from '../shared/errors';
import type { SourceTable, TotesysTableName } from '../shared/totesys-tables';
import { countKeys, findMissingKeys, withKeys, withoutKeys, type KeyRanges } from './key-ranges';

/**
 * Deletion detection. Each batch records every table's primary keys as of its snapshot (a key
 * set, as ranges). The next batch counts each table's rows in its own snapshot: when the count is
 * the previous key set plus the batch's new keys, nothing was deleted, which is the usual case and
 * costs one count per table; otherwise the missing keys are found by counting keys per bucket
 * and listing the buckets that fall short (key-ranges.ts findMissingKeys).
 */
export interface KeySets {
  readonly formatVersion: 1;
  readonly batchId: string;
  readonly tables: Partial<Record<TotesysTableName, KeyRanges>>;
}

export async function readKeySets(s3: S3Client, bucket: string, key: string): Promise<KeySets> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const keySets = JSON.parse(gunzipSync(await object.Body!.transformToByteArray()).toString('utf-8')) as KeySets;
  if (keySets.formatVersion !== 1) throw new PipelineStateError(`Key sets ${key} in bucket ${bucket} are not of format version 1`);
  return keySets;
}

export async function writeKeySets(s3: S3Client, bucket: string, key: string, keySets: KeySets): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: gzipSync(JSON.stringify(keySets)), ContentType: 'application/gzip', IfNoneMatch: '*' }));
}

const pk = (table: SourceTable) => `"${table.primaryKey}"`;
const from = (table: SourceTable) => `"public"."${table.name}"`;

/** A table's whole key set, read in the current snapshot: a dense table (the usual serial) in one aggregate. */
export async function readWholeKeySet(sql: Sql, table: SourceTable): Promise<KeyRanges> {
  const [span] = await sql.unsafe<{ rows: number; first: number | null; last: number | null }[]>(
    `SELECT count(*)::int AS rows, min(${pk(table)}) AS first, max(${pk(table)}) AS last FROM ${from(table)}`,
  );
  if (!span || span.rows === 0) return [];
  if (span.last! - span.first! + 1 === span.rows) return [[span.first!, span.last!]];
  const islands = await sql.unsafe<{ first: number; last: number }[]>(
    `SELECT min(k) AS first, max(k) AS last FROM (
       SELECT ${pk(table)} AS k, ${pk(table)} - row_number() OVER (ORDER BY ${pk(table)}) AS island FROM ${from(table)}
     ) keyed GROUP BY island ORDER BY 1`,
  );
  return islands.map((range) => [range.first, range.last] as const);
}

/**
 * The table's key set now, given its key set at the previous batch and the keys of the rows this
 * batch extracted, and the keys deleted in between.
 */
export async function nextKeySet(sql: Sql, table: SourceTable, previous: KeyRanges, extractedKeys: readonly number[]): Promise<{ keys: KeyRanges; deleted: number[] }> {
  const candidates = withKeys(previous, extractedKeys);
  const [{ rows }] = (await sql.unsafe(`SELECT count(*)::int AS rows FROM ${from(table)}`)) as unknown as [{ rows: number }];
  if (rows === countKeys(candidates)) return { keys: candidates, deleted: [] };
  if (rows > countKeys(candidates)) {
    throw new PipelineStateError(
      `ToteSys table ${table.name} holds ${rows} rows, more than the ${countKeys(candidates)} keys the lake knows of: ` +
        'the extraction state does not fit this database (was it restored or replaced?)',
    );
  }
  const deleted = await findMissingKeys(candidates, rows, {
    countByBucket: async (low, high, width) => {
      const buckets = await sql.unsafe<{ bucket: number; keys: number }[]>(
        `SELECT ((${pk(table)}::bigint - $1) / $3)::int AS bucket, count(*)::int AS keys FROM ${from(table)} WHERE ${pk(table)} BETWEEN $1 AND $2 GROUP BY 1`,
        [low, high, width],
      );
      return new Map(buckets.map((row) => [row.bucket, row.keys]));
    },
    // One index range scan per short bucket: the key index answers them, not another pass over the table.
    listBuckets: async (low, width, buckets) =>
      (
        await sql.unsafe<{ k: number }[]>(
          `SELECT t.${pk(table)} AS k FROM unnest($1::bigint[]) AS bucket(first)
             JOIN LATERAL (SELECT ${pk(table)} FROM ${from(table)} WHERE ${pk(table)} BETWEEN bucket.first AND bucket.first + $2 - 1) t ON true`,
          [buckets.map((bucket) => low + bucket * width), width],
        )
      ).map((row) => row.k),
  });
  return { keys: withoutKeys(candidates, deleted), deleted };
}

