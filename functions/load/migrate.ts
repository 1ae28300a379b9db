import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Sql, TransactionSql } from 'postgres';

/** Versioned migrations: `NNN_name.sql` files, applied in order, each exactly once. */
const MIGRATIONS_DIR = path.join(__dirname, 'migrations');

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export function listMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d{3}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => ({ version: Number(file.slice(0, 3)), name: file.slice(4, -4), sql: readFileSync(path.join(dir, file), 'utf-8') }));
}

/** Any fixed number identifies the lock; it only has to be the same for every loader. */
const MIGRATION_LOCK = 7_411_001;

/**
 * Brings the warehouse schema up to date, in the connection's current schema, and returns the
 * versions it applied. All of it runs in one transaction under an advisory lock, so loaders that
 * start together apply each migration once (the others wait, then find nothing to do), and a
 * failed migration leaves the schema as it was. Needs no superuser: only ownership of the schema.
 */
export async function migrateWarehouse(sql: Sql, migrations: readonly Migration[] = listMigrations()): Promise<number[]> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await ensureBookkeepingSchema(tx);
    const applied = new Set((await tx<{ version: number }[]>`SELECT version FROM pipeline.schema_migrations`).map((row) => row.version));
    const newlyApplied: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await tx.unsafe(migration.sql).simple();
      await tx`INSERT INTO pipeline.schema_migrations (version, name) VALUES (${migration.version}, ${migration.name})`;
      newlyApplied.push(migration.version);
    }
    return newlyApplied;
  });
}

/** The schema that holds the pipeline's own bookkeeping, apart from the star schemas. */
export const BOOKKEEPING_SCHEMA = 'pipeline';

/**
 * Creates schema `pipeline` and its migrations table when missing, and moves the migrations
 * table of a warehouse made before it existed. `CREATE SCHEMA IF NOT EXISTS` needs the database's
 * CREATE privilege even when the schema exists, so it is only issued when the schema is missing:
 * a loader that owns a `pipeline` schema created for it by an administrator needs nothing more.
 */
async function ensureBookkeepingSchema(tx: TransactionSql): Promise<void> {
  const [schema] = await tx`SELECT 1 FROM pg_namespace WHERE nspname = ${BOOKKEEPING_SCHEMA}`;
  if (!schema) await tx.unsafe(`CREATE SCHEMA ${BOOKKEEPING_SCHEMA}`);
  const [legacy] = await tx`SELECT to_regclass('pipeline_schema_migrations')::text AS name`;
  if (legacy?.name) {
    await tx.unsafe(`ALTER TABLE pipeline_schema_migrations SET SCHEMA ${BOOKKEEPING_SCHEMA}`);
    await tx.unsafe(`ALTER TABLE ${BOOKKEEPING_SCHEMA}.pipeline_schema_migrations RENAME TO schema_migrations`);
  }
  await tx.unsafe(`CREATE TABLE IF NOT EXISTS ${BOOKKEEPING_SCHEMA}.schema_migrations (
    version    int PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
}
