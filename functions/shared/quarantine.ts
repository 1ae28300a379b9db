import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { gunzipSync, gzipSync, createGunzip } from 'node:zlib';
import { PROCESSED_PREFIX } from './lake-layout';
import type { TotesysTableName } from './totesys-tables';
export { DEFAULT_ROW_POLICY, type RowPolicy } from './config';

/**
 * The quarantine: source rows that failed a check, set aside so that the rest of their batch goes
 * on, and retried by every later batch until they pass or are closed. See docs/quarantine.md.
 *
 * A held row keeps its original JSONL line, so a retry reads it exactly as the first attempt did.
 * After each batch the processed bucket gets the whole held set as one object (append-only, a new
 * object per batch), and the batch's manifest counts what was added, released and closed.
 */

export interface HeldRow {
  readonly table: TotesysTableName;
  /** The row's primary key as its line gives it; null when the line has no readable key. */
  readonly key: string | null;
  /** The field that failed; null when the line itself is unreadable. */
  readonly field: string | null;
  readonly reason: string;
  /** The batch whose line this is, its object and its 1-based line. */
  readonly batchId: string;
  readonly object: string;
  readonly line: number;
  readonly text: string;
  /** The batch that first held it, and the latest batch that tried it again. */
  readonly heldSince: string;
  readonly lastTried: string;
}

/** Why a held row left the quarantine without flowing in. */
export type ClosedBecause = 'superseded' | 'deleted';

/** What one batch did to the quarantine. */
export interface QuarantineChanges {
  readonly held: readonly HeldRow[];
  readonly added: readonly HeldRow[];
  readonly released: readonly HeldRow[];
  readonly closed: readonly (HeldRow & { readonly because: ClosedBecause })[];
}

/** The quarantine as a processed manifest records it. */
export interface QuarantineRecord {
  /** The held set after the batch; absent when nothing is held. */
  readonly key?: string;
  readonly held: number;
  readonly added: number;
  readonly released: number;
  readonly closed: number;
}

export function quarantineKey(batchId: string, attemptId: string): string {
  return `${PROCESSED_PREFIX.quarantine}batch-${batchId}/${attemptId}.jsonl.gz`;
}

export async function readHeldRows(s3: S3Client, bucket: string, key: string | undefined): Promise<HeldRow[]> {
  if (!key) return [];
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const text = gunzipSync(Buffer.from(await object.Body!.transformToByteArray())).toString('utf-8');
  return text.split('\n').filter((line) => line.length > 0).map((line) => JSON.parse(line) as HeldRow);
}

export async function writeHeldRows(s3: S3Client, bucket: string, key: string, rows: readonly HeldRow[]): Promise<void> {
  const body = gzipSync(rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/gzip', IfNoneMatch: '*' }));
}

/** One line of a gzipped JSONL file: its 1-based number and text. */
export interface NumberedLine {
  readonly line: number;
  readonly text: string;
}

/**
 * Visits the lines of a gzipped JSONL file in order, until `visit` returns true; only for the rare
 * paths (a bad row), never the data path.
 */
export async function forEachLine(file: string, visit: (line: NumberedLine) => boolean | void): Promise<void> {
  const source = createReadStream(file);
  const gunzip = createGunzip();
  const lines = createInterface({ input: source.pipe(gunzip), crlfDelay: Infinity });
  try {
    let number = 0;
    for await (const text of lines) {
      number += 1;
      if (visit({ line: number, text })) return;
    }
  } finally {
    // Closing the reader alone leaves the file open: a warm Lambda would keep the deleted file's space.
    lines.close();
    gunzip.destroy();
    source.destroy();
  }
}

/** The primary key a JSONL line gives, as text, or null when the line has none readable. */
export function keyOfLine(text: string, primaryKey: string): string | null {
  try {
    const value = (JSON.parse(text) as Record<string, unknown>)[primaryKey];
    return typeof value === 'number' || typeof value === 'string' ? String(value) : null;
  } catch {
    const match = new RegExp(`"${primaryKey}"\\s*:\\s*"?(-?\\d+)`).exec(text);
    return match ? match[1]! : null;
  }
}

/** The held rows as an operator reads them: one line each. */
export function describeHeldRow(row: HeldRow): string {
  const key = row.key === null ? 'a line without a readable key' : `key ${row.key}`;
  const field = row.field ? `, field ${row.field}` : '';
  return `${row.table} ${key}${field}: ${row.reason} (batch ${row.batchId}, ${row.object} line ${row.line}; held since batch ${row.heldSince})`;
}
