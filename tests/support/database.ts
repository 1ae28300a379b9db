import type { Sql } from 'postgres';
import { openDatabase } from '../../functions/shared/database';
import { createDatabase, dropDatabase } from '../../scripts/local/postgres';

export interface TestDatabase {
  /** URL of the current database (valid inside tests and hooks). */
  readonly url: string;
  /** A connection pool to it, closed when the database is dropped. */
  readonly sql: Sql;
}

/**
 * Gives the calling suite a database of its own on the test server, created before and dropped
 * after the suite, or, with `{ each: true }`, a new one for every test.
 */
export function useTestDatabase(label: string, options: { each?: boolean } = {}): TestDatabase {
  const adminUrl = () => {
    const url = process.env.TEST_POSTGRES_URL;
    if (!url) throw new Error('TEST_POSTGRES_URL is not set: the Jest global setup sets it');
    return url;
  };
  const base = `test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  let counter = 0;
  let name = '';
  let url = '';
  let sql: Sql | undefined;
  const open = async () => {
    counter += 1;
    name = `${base}_${counter}`;
    url = await createDatabase(adminUrl(), name);
    sql = openDatabase(url, { max: 10 });
  };
  const close = async () => {
    await sql?.end();
    sql = undefined;
    await dropDatabase(adminUrl(), name);
  };
  if (options.each) {
    beforeEach(open);
    afterEach(close);
  } else {
    beforeAll(open);
    afterAll(close);
  }
  return {
    get url() {
      return url;
    },
    get sql() {
      if (!sql) throw new Error('the test database is used outside a test');
      return sql;
    },
  };
}
