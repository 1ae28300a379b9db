import type { S3Client } from '@aws-sdk/client-s3';
import path from 'node:path';
import { BadInputError } from '../shared/errors';
import type { IngestionManifest } from '../shared/ingestion-manifest';
import { TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type SourceTable, type TotesysTableName } from '../shared/totesys-tables';
import { findFirstBadLine } from './diagnose-jsonl';
import type { DuckDbSession } from '../shared/duckdb-session';
import { downloadObject } from '../shared/s3-files';
import { duckDbType, rawJsonColumns, rowRules, typedColumns } from './source-columns';

/**
 * Loads every table of an ingestion batch into DuckDB as `batch_<table>`, typed as ToteSys types
 * it (a table without changes becomes an empty table), and rejects the batch on the first bad
 * value with an error naming the table, the object, the line and the field.
 */
export async function stageIngestedBatch(session: DuckDbSession, s3: S3Client, bucket: string, manifest: IngestionManifest): Promise<Record<TotesysTableName, number>> {
  const rows = {} as Record<TotesysTableName, number>;
  for (const name of TOTESYS_TABLE_NAMES) {
    const table = TOTESYS_TABLES[name];
    const ingested = manifest.tables[name];
    if (!ingested) {
      const columns = Object.entries(table.columns).map(([column, pgType]) => `"${column}" ${duckDbType(pgType)}`);
      await session.run(`CREATE TABLE batch_${name} (${columns.join(', ')})`);
      rows[name] = 0;
      continue;
    }
    const file = path.join(session.dir, 'ingested', `${name}.jsonl.gz`);
    await downloadObject(s3, bucket, ingested.key, file);
    const where = `table ${name}, object s3://${bucket}/${ingested.key}`;
    try {
      await session.run(
        `CREATE TABLE raw_${name} AS SELECT * FROM read_json($1, format = 'newline_delimited', compression = 'gzip', columns = ${rawJsonColumns(table)})`,
        [file],
      );
    } catch (error) {
      throw await badInput(file, table, where, (error as Error).message);
    }
    await assertRowsKeepRules(session, file, table, where);
    await session.run(`CREATE TABLE batch_${name} AS SELECT ${typedColumns(table)} FROM raw_${name}`);
    await session.run(`DROP TABLE raw_${name}`);
    const [counts] = await session.rows<{ total: bigint; keys: bigint }>(
      `SELECT count(*) AS total, count(DISTINCT "${table.primaryKey}") AS keys FROM batch_${name}`,
    );
    if (Number(counts!.total) !== ingested.rows) {
      throw new BadInputError(`Bad input in ${where}: ${counts!.total} rows, but the manifest says ${ingested.rows}`);
    }
    if (counts!.keys !== counts!.total) {
      throw new BadInputError(`Bad input in ${where}: ${table.primaryKey} is not unique within the batch`);
    }
    rows[name] = ingested.rows;
  }
  return rows;
}

async function assertRowsKeepRules(session: DuckDbSession, file: string, table: SourceTable, where: string): Promise<void> {
  const rules = rowRules(table);
  const [broken] = await session.rows<Record<string, bigint>>(
    `SELECT ${rules.map((rule, i) => `count(*) FILTER (WHERE ${rule.broken}) AS rule_${i}`).join(', ')} FROM raw_${table.name}`,
  );
  const firstBroken = rules.find((_, i) => Number(broken![`rule_${i}`]) > 0);
  if (firstBroken) throw await badInput(file, table, where, `field ${firstBroken.column} has a value that is missing or not of its type`);
}

/** The error for a rejected object, naming the first bad line and field when it can be found. */
async function badInput(file: string, table: SourceTable, where: string, engineMessage: string): Promise<BadInputError> {
  const bad = await findFirstBadLine(file, table);
  if (!bad) return new BadInputError(`Bad input in ${where}: ${engineMessage}`);
  const field = bad.field ? `, field ${bad.field}` : '';
  return new BadInputError(`Bad input in ${where}, line ${bad.line}${field}: ${bad.problem}`);
}
