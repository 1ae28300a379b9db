import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { TransactionSql as Sql } from 'postgres';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { copyOut } from '../shared/database';
import type { IngestedTable } from '../shared/ingestion-manifest';
import type { SourceTable } from '../shared/totesys-tables';
import { changedRowsCopySql, type ScanMode } from './row-versions';

/** Multipart part size: memory per upload is about partSize x queueSize, whatever the table size. */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

/**
 * Streams one table's new row versions from PostgreSQL's COPY through gzip into one S3 object, as
 * a multipart upload when large. Nothing is buffered beyond a few parts, and a table without
 * changes writes no object (undefined).
 */
export async function uploadChangedRows(
  sql: Sql,
  s3: S3Client,
  bucket: string,
  table: SourceTable,
  mode: ScanMode,
  key: string,
  /** Set to gather the primary keys of the rows extracted (the first column of every line). */
  keys?: number[],
): Promise<IngestedTable | undefined> {
  const copy = await copyOut(sql, changedRowsCopySql(table, mode));
  const rows = copy[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await rows.next();
  if (first.done) return undefined;

  const lines = new CountLines(keys && { into: keys, pattern: new RegExp(`^\\{"${table.primaryKey}":(-?\\d+)[,}]`) });
  const bytes = new CountBytes();
  const body = new PassThrough();
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: body, ContentType: 'application/gzip' },
    partSize: PART_SIZE,
    queueSize: QUEUE_SIZE,
    leavePartsOnError: false,
  });
  const streaming = pipeline(Readable.from(gathered(first.value, rows), { objectMode: false }), lines, createGzip({ level: 1 }), bytes, body);
  // Whichever side fails first stops the other, so neither a half-read COPY nor a half-done upload
  // lingers. Both then fail: the first failure is the one reported (a COPY cut short by the
  // database, not the "Upload aborted" that stopping the upload causes), so it can be told for what it is.
  let firstFailure: unknown;
  const failed = (error: unknown): unknown => (firstFailure ??= error);
  await Promise.all([
    streaming.catch(async (error: unknown) => {
      failed(error);
      await upload.abort().catch(() => {});
      throw firstFailure;
    }),
    upload.done().catch((error: unknown) => {
      failed(error);
      copy.destroy(error as Error);
      body.destroy(error as Error);
      throw firstFailure;
    }),
  ]);
  return { key, rows: lines.count, bytes: bytes.count };
}

/**
 * The COPY's chunks (postgres.js gives one per row), gathered into writes of at least 64 KiB:
 * zlib costs per write, and one write per row triples the extract's CPU.
 */
const GATHER_BYTES = 64 * 1024;

async function* gathered(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [head];
  let size = head.length;
  for (let next = await rest.next(); !next.done; next = await rest.next()) {
    pending.push(next.value);
    size += next.value.length;
    if (size >= GATHER_BYTES) {
      yield Buffer.concat(pending, size);
      pending = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(pending, size);
}

/**
 * Counts newline-terminated lines (one per row) as they pass and, given `keys`, gathers each
 * line's first value: the primary key, which Extract selects first (`{"sales_order_id":12,…`).
 */
class CountLines extends Transform {
  count = 0;
  private partial = '';
  constructor(private readonly keys?: { readonly into: number[]; readonly pattern: RegExp }) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) {
      this.count += 1;
      if (this.keys) this.gatherKey(this.partial + chunk.toString('utf-8', start, at));
      this.partial = '';
      start = at + 1;
    }
    if (this.keys && start < chunk.length) this.partial += chunk.toString('utf-8', start);
    done(null, chunk);
  }
  private gatherKey(line: string): void {
    const match = this.keys!.pattern.exec(line);
    if (!match) throw new Error(`Extract could not read the primary key of the line ${line.slice(0, 80)}`);
    this.keys!.into.push(Number(match[1]));
  }
}

class CountBytes extends Transform {
  count = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.count += chunk.length;
    done(null, chunk);
  }
}
