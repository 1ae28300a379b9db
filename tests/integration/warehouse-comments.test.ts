import type { Sql, TransactionSql } from 'postgres';
import { BOOKKEEPING_SCHEMA, migrateWarehouse } from '../../functions/load/migrate';
import { FACT_NAMES, WAREHOUSE_TABLE_NAMES } from '../../functions/shared/warehouse-tables';
import { useTestDatabase } from '../support/database';

/** Every table and view of the star schemas' schema and of schema pipeline, and each column, with its comment. */
async function catalogue(sql: Sql | TransactionSql): Promise<{ kind: string; name: string; comment: string | null }[]> {
  return sql<{ kind: string; name: string; comment: string | null }[]>`
    SELECT CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END AS kind,
           n.nspname || '.' || c.relname AS name,
           obj_description(c.oid, 'pg_class') AS comment
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN (current_schema(), ${BOOKKEEPING_SCHEMA}) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    UNION ALL
    SELECT 'column', n.nspname || '.' || c.relname || '.' || a.attname, col_description(c.oid, a.attnum)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE n.nspname IN (current_schema(), ${BOOKKEEPING_SCHEMA}) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    UNION ALL
    SELECT 'schema', nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = ${BOOKKEEPING_SCHEMA}
    ORDER BY 1, 2`;
}

function uncommented(entries: { kind: string; name: string; comment: string | null }[]): string[] {
  return entries.filter((entry) => !entry.comment?.trim()).map((entry) => `${entry.kind} ${entry.name}`);
}

describe('warehouse comments (migration 003)', () => {
  const warehouse = useTestDatabase('warehouse_comments');
  let comments: Map<string, string | null>;

  beforeAll(async () => {
    await migrateWarehouse(warehouse.sql);
    comments = new Map((await catalogue(warehouse.sql)).map((entry) => [entry.name, entry.comment]));
  });

  const comment = (name: string): string => {
    const text = comments.get(name);
    if (text === undefined) throw new Error(`${name} is not in the catalogue`);
    return text ?? '';
  };

  it('covers every table, view and column of the star schemas and of schema pipeline', async () => {
    const names = [...comments.keys()];
    // The catalogue query sees the objects it must judge (so an empty answer cannot pass).
    for (const table of [...WAREHOUSE_TABLE_NAMES, 'source_row_deletions', 'current_sales_order', 'current_purchase_order', 'current_payment']) {
      expect(names).toContain(`public.${table}`);
    }
    for (const table of ['schema_migrations', 'load_ledger', 'lakes']) expect(names).toContain(`pipeline.${table}`);
    expect(names).toContain('pipeline');
    expect(names).toContain('public.fact_sales_order.sales_staff_id');
    expect(names).toContain('pipeline.lakes.lake_id');

    expect(uncommented(await catalogue(warehouse.sql))).toEqual([]);
  });

  it('notices a table or column added without a comment', async () => {
    const found = await warehouse.sql
      .begin(async (tx) => {
        await tx`ALTER TABLE fact_sales_order ADD COLUMN undocumented int`;
        await tx`CREATE TABLE pipeline.undocumented (id int)`;
        await tx`CREATE VIEW undocumented_view AS SELECT 1 AS one`;
        throw new Rollback(uncommented(await catalogue(tx)));
      })
      .catch((error: unknown) => {
        if (error instanceof Rollback) return error.found;
        throw error;
      });
    expect(found).toEqual([
      'column pipeline.undocumented.id',
      'column public.fact_sales_order.undocumented',
      'column public.undocumented_view.one',
      'table pipeline.undocumented',
      'view public.undocumented_view',
    ]);
  });

  it('states the rules of the contract where they apply', () => {
    expect(comment('public.fact_sales_order.sales_staff_id')).toMatch(/sales_order\.staff_id/);
    expect(comment('public.fact_sales_order.created_date')).toMatch(/sales_order\.created_at/);
    expect(comment('public.fact_payment.last_updated_time')).toMatch(/payment\.last_updated.*milliseconds kept/);
    expect(comment('public.fact_purchase_order.agreed_payment_date')).toMatch(/'YYYY-MM-DD' made a date/);
    expect(comment('public.fact_sales_order')).toMatch(/every version.*content.*changes.*highest sales_record_id/s);
    expect(comment('public.fact_payment')).toMatch(/company_ac_number, counterparty_ac_number\) are dropped/);
    expect(comment('public.dim_currency.currency_name')).toMatch(/ICU.*'British Pound'.*keeps the code/s);
    expect(comment('public.dim_date.day_of_week')).toMatch(/Monday 1 \.\.\. Sunday 7/);
    expect(comment('public.dim_location.location_id')).toMatch(/address\.address_id/);
    expect(comment('public.dim_counterparty.counterparty_legal_phone_number')).toMatch(/address\.phone of the counterparty's legal_address_id/);
    expect(comment('public.dim_staff')).toMatch(/department rename changes every member of staff/);
    expect(comment('public.current_sales_order')).toMatch(/one row per sales order that exists in ToteSys now, its latest version/);
    expect(comment('public.source_row_deletions.last_record_id')).toMatch(/current when the deletion was seen.*Null for a dimension source/s);
    expect(comment('pipeline.load_ledger')).toMatch(/loaded exactly when its row is here/);
  });

  it('gives each current_* column the comment of its fact column', () => {
    for (const fact of FACT_NAMES) {
      const view = fact.replace('fact_', 'current_');
      const columns = [...comments.keys()].filter((name) => name.startsWith(`public.${fact}.`));
      expect(columns.length).toBeGreaterThan(10);
      for (const column of columns) {
        const name = column.slice(`public.${fact}.`.length);
        expect(comment(`public.${view}.${name}`)).toBe(`Latest version's ${fact}.${name}: ${comment(column)}`);
      }
    }
  });

  it('is applied once: migrating again changes nothing', async () => {
    expect(await migrateWarehouse(warehouse.sql)).toEqual([]);
  });
});

class Rollback extends Error {
  constructor(readonly found: string[]) {
    super('rollback');
  }
}
