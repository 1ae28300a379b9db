import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../../scripts/local/postgres';

/**
 * Tests use the PostgreSQL server named by TEST_POSTGRES_URL (a URL of its maintenance database,
 * e.g. postgres://postgres@127.0.0.1:5432/postgres). Where none is named, an embedded server is
 * started for the run, so `npm test` needs nothing but Node and npm.
 */
export default async function globalSetup(): Promise<void> {
  const named = process.env.TEST_POSTGRES_URL;
  if (named) {
    const sql = postgres(named, { max: 1, connect_timeout: 10, onnotice: () => {} });
    try {
      await sql`SELECT 1`;
    } catch (error) {
      throw new Error(`TEST_POSTGRES_URL names a server that does not answer: ${(error as Error).message}`);
    } finally {
      await sql.end();
    }
    return;
  }
  const dataDir = path.join(mkdtempSync(path.join(tmpdir(), 'totesys-tests-')), 'pg');
  console.log(`\nTEST_POSTGRES_URL is not set: starting embedded PostgreSQL in ${dataDir}`);
  const server = await startEmbeddedPostgres(dataDir);
  process.env.TEST_POSTGRES_URL = server.adminUrl;
  (globalThis as Record<string, unknown>).__embeddedPostgres = { server, dataDir };
}
