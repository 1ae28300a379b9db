import postgres, { type Sql } from 'postgres';
import { createDatabase, dropDatabase } from '../../scripts/local/postgres';

export interface TestDatabase {
  /** URL of this suite's own database (valid after beforeAll). */
  readonly url: string;
  /** A connection pool to it, closed after the suite. */
  readonly sql: Sql;
}

/**
 * Gives the calling suite a database of its own on the test server: created before the suite,
 * dropped after it.
 */
export function useTestDatabase(label: string): TestDatabase {
  const adminUrl = () => {
    const url = process.env.TEST_POSTGRES_URL;
    if (!url) throw new Error('TEST_POSTGRES_URL is not set: the Jest global setup sets it');
    return url;
  };
  const name = `test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  let url = '';
  let sql: Sql | undefined;
  beforeAll(async () => {
    url = await createDatabase(adminUrl(), name);
    sql = postgres(url, { onnotice: () => {} });
  });
  afterAll(async () => {
    await sql?.end();
    await dropDatabase(adminUrl(), name);
  });
  return {
    get url() {
      return url;
    },
    get sql() {
      if (!sql) throw new Error('the test database is used before beforeAll ran');
      return sql;
    },
  };
}
