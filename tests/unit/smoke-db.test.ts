import { useTestDatabase } from '../support/database';

describe('the test database harness', () => {
  const db = useTestDatabase('harness');
  it('gives each suite a database of its own', async () => {
    const [row] = await db.sql`SELECT current_database() AS name`;
    expect(row?.name).toMatch(/^test_harness_/);
  });
});
