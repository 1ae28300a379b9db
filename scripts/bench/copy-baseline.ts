/**
 * Bench step: the bare engine, what an extract cannot beat. Every table's rows as JSON straight
 * from PostgreSQL's COPY into a local file: no change tracking, no compression, no upload.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { copyOut, openDatabase } from '../../functions/shared/database';
import { TOTESYS_TABLE_NAMES } from '../../functions/shared/totesys-tables';
import { stepMain, type TableVolumes } from './step-process';

export interface CopyBaselineInput {
  readonly url: string;
  readonly directory: string;
  /** Only rows stamped at or after this ToteSys timestamp ('YYYY-MM-DD HH:MM:SS.mmm'); all rows when absent. */
  readonly changedSince?: string;
}

export interface CopyBaselineOutput {
  readonly rows: number;
  /** Uncompressed bytes written. */
  readonly bytes: number;
  readonly tables: TableVolumes;
}

stepMain(async (input: CopyBaselineInput, progress): Promise<CopyBaselineOutput> => {
  // COPY takes no parameters, so the one value spliced into it is checked to be nothing but a timestamp.
  if (input.changedSince !== undefined && !/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/.test(input.changedSince)) {
    throw new Error(`not a ToteSys timestamp: ${input.changedSince}`);
  }
  const where = input.changedSince === undefined ? '' : ` WHERE t.last_updated >= '${input.changedSince}'`;
  await mkdir(input.directory, { recursive: true });
  const sql = openDatabase(input.url, { max: 1 });
  const tables: TableVolumes = {};
  try {
    // One snapshot for all tables, as the extract reads them.
    await sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
      for (const table of TOTESYS_TABLE_NAMES) {
        const started = performance.now();
        const counter = new CountRows();
        const copy = await copyOut(tx, `COPY (SELECT row_to_json(t) FROM "public"."${table}" t${where}) TO STDOUT`);
        await pipeline(copy, counter, createWriteStream(path.join(input.directory, `${table}.jsonl`)));
        const seconds = (performance.now() - started) / 1000;
        tables[table] = { rows: counter.lines, bytes: counter.bytes, seconds };
        progress(`${table.padEnd(15)} ${counter.lines.toLocaleString('en-GB').padStart(10)} rows ${(counter.bytes / 1e6).toFixed(1).padStart(8)} MB    ${seconds.toFixed(1).padStart(6)}s`);
      }
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
  const sum = (field: 'rows' | 'bytes') => Object.values(tables).reduce((total, table) => total + table[field], 0);
  return { rows: sum('rows'), bytes: sum('bytes'), tables };
});

/**
 * Counts rows and passes them on in chunks of at least 64 KiB. PostgreSQL sends a message per
 * row; writing each on its own cost this process nearly as much CPU as PostgreSQL spent making
 * them (10 s against 11 s at scale 100), on the same cores. The baseline is the engine's cost.
 */
class CountRows extends Transform {
  lines = 0;
  bytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) this.lines += 1;
    this.bytes += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < 64 * 1024) return done();
    done(null, this.takePending());
  }

  override _flush(done: TransformCallback): void {
    done(null, this.pendingBytes > 0 ? this.takePending() : undefined);
  }

  private takePending(): Buffer {
    const joined = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return joined;
  }
}
