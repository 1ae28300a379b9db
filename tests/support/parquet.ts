import { DuckDBInstance } from '@duckdb/node-api';
import type { S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readObject } from './local-s3';

/** Rows of a Parquet object as JSON-friendly values (dates, times and decimals as strings). */
export async function readParquetRows(s3: S3Client, bucket: string, key: string, orderBy?: string): Promise<Record<string, unknown>[]> {
  const { file, cleanup } = await downloadToTemp(s3, bucket, key);
  try {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const reader = await connection.runAndReadAll(`SELECT * FROM read_parquet($1)${orderBy ? ` ORDER BY ${orderBy}` : ''}`, [file]);
      return reader.getRowObjectsJson() as Record<string, unknown>[];
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  } finally {
    cleanup();
  }
}

/** The Parquet schema of an object: column name -> DuckDB type. */
export async function readParquetTypes(s3: S3Client, bucket: string, key: string): Promise<Record<string, string>> {
  const { file, cleanup } = await downloadToTemp(s3, bucket, key);
  try {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const reader = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet($1)`, [file]);
      return Object.fromEntries(reader.getRowObjectsJson().map((c) => [String(c.column_name), String(c.column_type)]));
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  } finally {
    cleanup();
  }
}

async function downloadToTemp(s3: S3Client, bucket: string, key: string): Promise<{ file: string; cleanup: () => void }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'parquet-'));
  const file = path.join(dir, 'object.parquet');
  writeFileSync(file, await readObject(s3, bucket, key));
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
