import type { TransactionSql as Sql } from 'postgres';
import { SchemaDriftError } from '../shared/errors';
import type { SourceTable } from '../shared/totesys-tables';

/**
 * Compares the live ToteSys schema with the tables the pipeline was built for, before anything is
 * read: a missing table, or a column added, dropped or retyped, fails the extract with every
 * difference named, instead of surfacing later as a transform or load error.
 */
export async function assertSourceSchema(sql: Sql, tables: readonly SourceTable[]): Promise<void> {
  const names = tables.map((table) => table.name);
  const live = await sql<{ table_name: string; column_name: string; column_type: string }[]>`
    SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS column_type
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY(${names})
      AND a.attnum > 0 AND NOT a.attisdropped`;
  if (live.length === 0) {
    // Not a drift: a database that never was ToteSys (an empty one, or the wrong one).
    const [{ name }] = (await sql<{ name: string }[]>`SELECT current_database() AS name`) as unknown as [{ name: string }];
    throw new SchemaDriftError(
      `ToteSys database ${name} has none of the ${names.length} ToteSys tables (${names.join(', ')}), so nothing was extracted. ` +
        'Check that TOTESYS_DATABASE_URL (in AWS, the ToteSys secret) names the ToteSys database; to make a ToteSys to try the pipeline on, run npm run seed against it.',
    );
  }
  const problems = schemaDifferences(tables, live);
  if (problems.length > 0) {
    throw new SchemaDriftError(`ToteSys schema drift, nothing extracted: ${problems.join('; ')}`);
  }
}

export function schemaDifferences(
  tables: readonly SourceTable[],
  live: readonly { table_name: string; column_name: string; column_type: string }[],
): string[] {
  const problems: string[] = [];
  for (const table of tables) {
    const liveColumns = new Map(live.filter((c) => c.table_name === table.name).map((c) => [c.column_name, c.column_type]));
    if (liveColumns.size === 0) {
      problems.push(`table ${table.name} is missing`);
      continue;
    }
    for (const [column, expectedType] of Object.entries(table.columns)) {
      const liveType = liveColumns.get(column);
      if (liveType === undefined) problems.push(`${table.name}.${column} was dropped`);
      else if (liveType !== expectedType) problems.push(`${table.name}.${column} is ${liveType}, expected ${expectedType}`);
    }
    for (const [column, liveType] of liveColumns) {
      if (!(column in table.columns)) problems.push(`${table.name}.${column} (${liveType}) was added`);
    }
  }
  return problems;
}
