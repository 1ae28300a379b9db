import type { S3Client } from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { TransactionSql } from 'postgres';
import { copyIn } from '../shared/database';
import type { DuckDbSession } from '../shared/duckdb-session';
import { downloadObject } from '../shared/s3-files';
import { WAREHOUSE_TABLES, type WarehouseTableName } from '../shared/warehouse-tables';

/** Where one Parquet object of the processed bucket is. */
export interface ParquetSource {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
}

/**
 * Creates the table's **incoming table**, `incoming_<table>` (temporary, dropped at commit, the
 * warehouse table's columns), and copies the batch's Parquet object into it, to be applied from
 * there; returns its name. (A first load copies straight into the warehouse table instead:
 * {@link copyParquetIntoTable}; load-strategy.ts decides.) DuckDB turns the Parquet into CSV on
 * local disk and the file streams into PostgreSQL with `COPY … FROM STDIN`: no row passes through
 * JavaScript, memory stays flat.
 */
export async function copyParquetIntoIncoming(tx: TransactionSql, session: DuckDbSession, source: ParquetSource, table: WarehouseTableName): Promise<string> {
  const incoming = await createIncomingTable(tx, table);
  await copyParquetColumns(tx, session, source, table, columnList(table), incoming);
  return incoming;
}

/** Copies the Parquet object straight into the warehouse table itself (a first load). */
export async function copyParquetIntoTable(tx: TransactionSql, session: DuckDbSession, source: ParquetSource, table: WarehouseTableName): Promise<void> {
  await copyParquetColumns(tx, session, source, table, columnList(table), table);
}

/** Streams `columns` of one Parquet object into `target`; `name` names its local files. */
export async function copyParquetColumns(tx: TransactionSql, session: DuckDbSession, source: ParquetSource, name: string, columns: string, target: string): Promise<void> {
  const parquet = path.join(session.dir, 'in', `${name}.parquet`);
  const csv = path.join(session.dir, 'in', `${name}.csv`);
  await downloadObject(source.s3, source.bucket, source.key, parquet);
  // Empty strings are quoted and NULLs are bare, which is how PostgreSQL's CSV tells them apart.
  await session.run(`COPY (SELECT ${columns} FROM read_parquet($1)) TO $2 (FORMAT csv, HEADER false)`, [parquet, csv]);
  await copyIn(tx, `COPY ${target} (${columns}) FROM STDIN WITH (FORMAT csv)`, createReadStream(csv));
}

/** The temporary incoming table `incoming_<table>` (dropped at commit), with the warehouse table's columns and no row. */
async function createIncomingTable(tx: TransactionSql, table: WarehouseTableName): Promise<string> {
  const incoming = `incoming_${table}`;
  await tx.unsafe(`CREATE TEMPORARY TABLE ${incoming} ON COMMIT DROP AS SELECT ${columnList(table)} FROM ${table} WITH NO DATA`);
  return incoming;
}

function columnList(table: WarehouseTableName): string {
  return WAREHOUSE_TABLES[table].columns.map((column) => `"${column.name}"`).join(', ');
}
