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
export interface ChangedRowsUpload {
  readonly mode: ScanMode;
  /** `canPrefilterCurrent(snapshot)`: whether age() may pre-filter the writer ids. */
  readonly prefilter: boolean;
  /** The object's key. */
  readonly key: string;
  /** Gathers the writer ids at or above the snapshot's xmin of the rows extracted (decimal text). */
  readonly writers: Set<string>;
  /** Given, gathers the primary keys of the rows extracted (the first column of every line). */
  readonly keys?: number[];
}

export async function uploadChangedRows(sql: Sql, s3: S3Client, bucket: string, table: SourceTable, rowsToUpload: ChangedRowsUpload): Promise<IngestedTable | undefined> {
  const { mode, prefilter, key, writers, keys } = rowsToUpload;
  const copy = await copyOut(sql, changedRowsCopySql(table, mode, prefilter));
  const rows = copy[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await rows.next();
  if (first.done) return undefined;

  const lines = new RowLines(writers, keys && { into: keys, pattern: new RegExp(`^\\{"${table.primaryKey}":(-?\\d+)[,}]`) });
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
 * Takes each line of `changedRowsCopySql` (`<JSON text>\x02<writer id or nothing>\n`) apart as it
 * passes: passes the JSON text on, one line per row, counts the lines, gathers the writer ids and,
 * given `keys`, each line's first value: the primary key, which Extract selects first
 * (`{"sales_order_id":12,…`). JSON text never holds a raw \x02, so the last field starts at the
 * line's only one.
 */
class RowLines extends Transform {
  count = 0;
  /** The part of a line a chunk ended in: its JSON text, until the \x02 arrives; then its writer id. */
  private text: Buffer[] = [];
  private writer: string | undefined;
  constructor(
    private readonly writers: Set<string>,
    private readonly keys?: { readonly into: number[]; readonly pattern: RegExp },
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const out: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.writer === undefined) {
        const separator = chunk.indexOf(2, at);
        const end = separator === -1 ? chunk.length : separator;
        out.push(chunk.subarray(at, end));
        if (this.keys) this.text.push(chunk.subarray(at, end));
        if (separator === -1) break;
        this.writer = '';
        at = separator + 1;
      } else {
        const newline = chunk.indexOf(10, at);
        const end = newline === -1 ? chunk.length : newline;
        if (end > at) this.writer += chunk.toString('latin1', at, end);
        if (newline === -1) break;
        this.endLine();
        out.push(NEWLINE);
        at = newline + 1;
      }
    }
    done(null, out.length === 1 ? out[0] : Buffer.concat(out));
  }
  private endLine(): void {
    this.count += 1;
    if (this.writer) this.writers.add(this.writer);
    this.writer = undefined;
    if (!this.keys) return;
    const line = Buffer.concat(this.text).toString('utf-8');
    this.text = [];
    const match = this.keys.pattern.exec(line);
    if (!match) throw new Error(`Extract could not read the primary key of the line ${line.slice(0, 80)}`);
    this.keys.into.push(Number(match[1]));
  }
}

const NEWLINE = Buffer.from('\n');

class CountBytes extends Transform {
  count = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.count += chunk.length;
    done(null, chunk);
  }
}
