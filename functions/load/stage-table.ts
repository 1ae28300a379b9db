import type { S3Client } from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { TransactionSql } from 'postgres';
import { copyIn } from '../shared/database';
import type { DuckDbSession } from '../shared/duckdb-session';
import { downloadObject } from '../shared/s3-files';
import { WAREHOUSE_TABLES, type WarehouseTableName } from '../shared/warehouse-tables';

/**
 * Streams one Parquet object into `target` (a staging table, or the warehouse table itself on a
 * first load) with `COPY … FROM STDIN`. DuckDB turns the Parquet into CSV on local disk and the
 * file streams into PostgreSQL: no row passes through JavaScript, memory stays flat.
 */
export async function copyParquetInto(
  tx: TransactionSql,
  session: DuckDbSession,
  source: ParquetSource,
  table: WarehouseTableName,
  target: string,
): Promise<void> {
  await copyParquetColumns(tx, session, source, table, columnList(table), target);
}

export interface ParquetSource {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
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

/** A temporary staging table `stage_<table>` (dropped at commit) with the warehouse table's columns. */
export async function createStagingTable(tx: TransactionSql, table: WarehouseTableName): Promise<string> {
  await tx.unsafe(`CREATE TEMPORARY TABLE stage_${table} ON COMMIT DROP AS SELECT ${columnList(table)} FROM ${table} WITH NO DATA`);
  return `stage_${table}`;
}

function columnList(table: WarehouseTableName): string {
  return WAREHOUSE_TABLES[table].columns.map((column) => `"${column.name}"`).join(', ');
}
