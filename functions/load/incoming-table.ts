import type { S3Client } from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { TransactionSql } from 'postgres';
import { copyIn } from '../shared/database';
import type { DuckDbSession } from '../shared/duckdb-session';
import { downloadObject } from '../shared/s3-files';
import { WAREHOUSE_TABLES, type WarehouseTableName } from '../shared/warehouse-tables';

/** One Parquet object of a processed batch, to be copied into the warehouse as `columns`. */
export interface ParquetObject {
  /** Names its local files: the warehouse table, or `source_row_deletions`. */
  readonly name: string;
  readonly key: string;
  /** The column list (quoted identifiers, comma-separated) read from the object and copied, in that order. */
  readonly columns: string;
  /** An aggregate of the object's rows (DuckDB SQL of fixed text), read beside its conversion: {@link CsvFile.aggregate}. */
  readonly aggregate?: string;
}

/** One object of the batch as a local CSV file of its `columns`, ready for `COPY … FROM STDIN (FORMAT csv)`. */
export interface CsvFile {
  readonly file: string;
  readonly columns: string;
  /** The rows the file holds (DuckDB's count of the rows it wrote). */
  readonly rows: number;
  /** The value of the object's `aggregate`, as text (null for no rows); undefined without one. */
  readonly aggregate?: string | null;
}

/**
 * Turns a batch's Parquet objects into local CSV files, in the order given, one object ahead of
 * the one being copied: DuckDB downloads and converts object n+1 (on the Lambda's cores) while
 * PostgreSQL copies object n (on its own), instead of the two taking turns. At most two files
 * are on disk at once; each is removed once copied. DuckDB writes empty strings quoted and NULLs
 * bare, which is how PostgreSQL's CSV tells them apart.
 *
 * `each` is called with every object's file, in order, and must have finished with it when it
 * returns. A failure stops the walk; the conversion under way is waited for first, so the session
 * is never closed under a running statement.
 */
export async function forEachAsCsv(
  session: DuckDbSession,
  s3: S3Client,
  bucket: string,
  objects: readonly ParquetObject[],
  each: (object: ParquetObject, csv: CsvFile) => Promise<void>,
): Promise<void> {
  const convert = async (object: ParquetObject): Promise<CsvFile> => {
    const parquet = path.join(session.dir, 'in', `${object.name}.parquet`);
    const file = path.join(session.dir, 'in', `${object.name}.csv`);
    await downloadObject(s3, bucket, object.key, parquet);
    const [written] = await session.rows<{ Count: bigint }>(`COPY (SELECT ${object.columns} FROM read_parquet($1)) TO $2 (FORMAT csv, HEADER false)`, [parquet, file]);
    const aggregate = object.aggregate
      ? ((await session.rows<{ value: string | null }>(`SELECT CAST(${object.aggregate} AS VARCHAR) AS value FROM read_parquet($1)`, [parquet]))[0]?.value ?? null)
      : undefined;
    await rm(parquet);
    return { file, columns: object.columns, rows: Number(written!.Count), ...(aggregate === undefined ? {} : { aggregate }) };
  };
  const ahead = (object: ParquetObject) => {
    const converting = convert(object);
    // Awaited in its turn; until then its failure must not count as unhandled.
    converting.catch(() => {});
    return converting;
  };
  let next = objects.length > 0 ? ahead(objects[0]!) : undefined;
  try {
    for (let i = 0; i < objects.length; i += 1) {
      const csv = await next!;
      next = i + 1 < objects.length ? ahead(objects[i + 1]!) : undefined;
      await each(objects[i]!, csv);
      await rm(csv.file);
    }
  } finally {
    await next?.catch(() => {});
  }
}

/**
 * Creates the table's **incoming table**, `incoming_<table>` (temporary, dropped at commit, the
 * warehouse table's columns), and copies the batch's rows of it into it, to be applied from there;
 * returns its name. (A first load copies straight into the warehouse table instead:
 * {@link copyCsvInto}; load-strategy.ts decides.) The file streams into PostgreSQL with
 * `COPY … FROM STDIN`: no row passes through JavaScript, memory stays flat.
 */
export async function copyIntoIncoming(tx: TransactionSql, csv: CsvFile, table: WarehouseTableName): Promise<string> {
  const incoming = `incoming_${table}`;
  await tx.unsafe(`CREATE TEMPORARY TABLE ${incoming} ON COMMIT DROP AS SELECT ${tableColumns(table)} FROM ${table} WITH NO DATA`);
  await copyCsvInto(tx, csv, incoming);
  return incoming;
}

/** Streams a CSV file into `target` (a warehouse table, or an incoming table of the same columns): all its rows, or none. */
export async function copyCsvInto(tx: TransactionSql, csv: CsvFile, target: string): Promise<void> {
  await copyIn(tx, `COPY ${target} (${csv.columns}) FROM STDIN WITH (FORMAT csv)`, createReadStream(csv.file));
}

/** The warehouse table's columns as a column list, in the order of the contract (warehouse-tables.ts). */
export function tableColumns(table: WarehouseTableName): string {
  return WAREHOUSE_TABLES[table].columns.map((column) => `"${column.name}"`).join(', ');
}
