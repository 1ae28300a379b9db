import type { S3Client } from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { TransactionSql } from 'postgres';
import { copyIn } from '../shared/database';
import type { DuckDbSession } from '../shared/duckdb-session';
import { WAREHOUSE_TABLES, type WarehouseTableName } from '../shared/warehouse-tables';
import { downloadObject } from '../shared/s3-files';

/**
 * Puts one Parquet object into a temporary staging table `stage_<table>` (dropped at commit),
 * with the warehouse table's column types. DuckDB turns the Parquet into CSV on local disk and the
 * file streams into `COPY … FROM STDIN`: no row passes through JavaScript, memory stays flat.
 */
export async function stageParquet(
  tx: TransactionSql,
  session: DuckDbSession,
  s3: S3Client,
  bucket: string,
  table: WarehouseTableName,
  key: string,
): Promise<void> {
  const columns = WAREHOUSE_TABLES[table].columns.map((column) => `"${column.name}"`).join(', ');
  const parquet = path.join(session.dir, 'in', `${table}.parquet`);
  const csv = path.join(session.dir, 'in', `${table}.csv`);
  await downloadObject(s3, bucket, key, parquet);
  // Empty strings are quoted and NULLs are bare, which is how PostgreSQL's CSV tells them apart.
  await session.run(`COPY (SELECT ${columns} FROM read_parquet($1)) TO $2 (FORMAT csv, HEADER false)`, [parquet, csv]);
  await tx.unsafe(`CREATE TEMPORARY TABLE stage_${table} ON COMMIT DROP AS SELECT ${columns} FROM ${table} WITH NO DATA`);
  await copyIn(tx, `COPY stage_${table} (${columns}) FROM STDIN WITH (FORMAT csv)`, createReadStream(csv));
}
