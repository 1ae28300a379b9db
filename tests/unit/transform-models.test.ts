import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withDuckDb, type DuckDbSession } from '../../functions/shared/duckdb-session';
import { WAREHOUSE_TABLES } from '../../functions/shared/warehouse-tables';
import { CURRENT_STATE_TABLES, MODELS, PROVIDED_RELATIONS, type Model } from '../../functions/transform/models/models';
import { MODELS_DIR, modelOrder } from '../../functions/transform/run-models';
import { failingRows } from '../../functions/transform/row-tests';

/** The relations a model's SQL reads: every `from`/`join` target that is not one of its own CTEs. */
function relationsRead(sql: string): string[] {
  const code = sql.replace(/--.*$/gm, '');
  const ctes = new Set([...code.matchAll(/\b(\w+) as \(/g)].map((match) => match[1]!));
  const read = [...code.matchAll(/\b(?:from|join)\s+(\w+)\b(?!\s*\()/g)].map((match) => match[1]!);
  return [...new Set(read.filter((name) => !ctes.has(name)))].sort();
}

const sqlModels = MODELS.filter((model): model is Model & { sql: string } => model.sql !== undefined);

describe('the models (functions/transform/models/models.ts)', () => {
  it.each(sqlModels.map((model) => [model.name, model]))('%s reads exactly the inputs it declares', (_name, model) => {
    const sql = readFileSync(path.join(MODELS_DIR, model.sql), 'utf-8');
    expect(relationsRead(sql)).toEqual([...model.inputs].sort());
  });

  it('run each model after every model it reads: the facts, then the calendar range, then dim_date', () => {
    const order = modelOrder().map((model) => model.name);
    for (const model of MODELS) {
      for (const input of model.inputs.filter((name) => !PROVIDED_RELATIONS.includes(name))) {
        expect({ model: model.name, input, before: order.indexOf(input) < order.indexOf(model.name) }).toEqual({ model: model.name, input, before: true });
      }
    }
    expect(order.indexOf('int_calendar_range')).toBeGreaterThan(Math.max(...['fact_sales_order', 'fact_purchase_order', 'fact_payment'].map((fact) => order.indexOf(fact))));
    expect(order.indexOf('dim_date')).toBeGreaterThan(order.indexOf('int_calendar_range'));
    expect(order.indexOf('dim_currency')).toBeGreaterThan(order.indexOf('currency_name_lookup'));
  });

  it('refuse an input that is neither a model nor provided, and models that read each other in a circle', () => {
    const model = (name: string, inputs: string[]): Model => ({ name, sql: `${name}.sql`, inputs, contract: [], tests: [] });
    expect(() => modelOrder([model('a', ['nowhere'])], [])).toThrow('Model a reads nowhere, which is neither a model nor provided to the models');
    expect(() => modelOrder([model('a', ['b']), model('b', ['a'])], [])).toThrow('The models read each other in a circle: a, b');
  });

  it('build every warehouse table, each checked against the warehouse contract', () => {
    const marts = MODELS.filter((model) => model.warehouseTable);
    expect(marts.map((model) => model.warehouseTable).sort()).toEqual(Object.keys(WAREHOUSE_TABLES).sort());
    for (const model of marts) expect(model.contract.map((column) => column.name)).toEqual(WAREHOUSE_TABLES[model.warehouseTable!].columns.map((column) => column.name));
  });

  it('keep the current state of the tables the models and the references check read, as the processed manifests name them', () => {
    expect(CURRENT_STATE_TABLES).toEqual(['address', 'counterparty', 'currency', 'department', 'design', 'payment_type', 'staff', 'transaction']);
  });
});

describe('int_calendar_range and dim_date', () => {
  const facts = ['fact_sales_order', 'fact_purchase_order', 'fact_payment'] as const;

  /** Runs `work` with every fact as an empty table of its contract, and the previous range given. */
  async function withFacts<T>(previous: [string, string] | null, work: (session: DuckDbSession) => Promise<T>): Promise<T> {
    return withDuckDb({ memoryLimitMb: 128, threads: 1, workRoot: tmpdir() }, async (session) => {
      for (const fact of facts) {
        const model = MODELS.find((m) => m.name === fact)!;
        await session.run(`CREATE TABLE ${fact} (${model.contract.map((c) => `${c.name} ${c.type}`).join(', ')})`);
      }
      await session.run(`CREATE TABLE previous_calendar_range (first_day DATE, last_day DATE)`);
      if (previous) await session.run(`INSERT INTO previous_calendar_range VALUES ($1::DATE, $2::DATE)`, previous);
      return work(session);
    });
  }
  const modelSqlOf = (name: string) => readFileSync(path.join(MODELS_DIR, MODELS.find((m) => m.name === name)!.sql!), 'utf-8');
  const range = (session: DuckDbSession) =>
    session.rows<{ first_day: string | null; last_day: string | null; widened: boolean }>(
      `SELECT CAST(first_day AS VARCHAR) AS first_day, CAST(last_day AS VARCHAR) AS last_day, widened FROM (${modelSqlOf('int_calendar_range')})`,
    );

  it.each(facts.flatMap((fact) => WAREHOUSE_TABLES[fact].columns.filter((c) => c.references === 'dim_date').map((c) => [fact, c.name])))(
    'widens the range to a date in %s.%s',
    async (fact, column) => {
      const rows = await withFacts(['2022-01-01', '2022-12-31'], async (session) => {
        const model = MODELS.find((m) => m.name === fact)!;
        const values = model.contract.map((c) => (c.name === column ? `DATE '2030-06-15'` : c.type === 'DATE' ? `DATE '2022-06-01'` : `NULL`));
        await session.run(`INSERT INTO ${fact} VALUES (${values.join(', ')})`);
        return range(session);
      });
      expect(rows).toEqual([{ first_day: '2022-01-01', last_day: '2030-06-15', widened: true }]);
    },
  );

  it('keeps the previous range, not widened, when every date is already in it; and has no range before any fact', async () => {
    expect(await withFacts(['2022-01-01', '2022-12-31'], range)).toEqual([{ first_day: '2022-01-01', last_day: '2022-12-31', widened: false }]);
    expect(await withFacts(null, range)).toEqual([{ first_day: null, last_day: null, widened: false }]);
  });

  it('gives dim_date every day of a widened range, and no row when the range did not widen', async () => {
    const days = (previous: [string, string]) =>
      withFacts(previous, async (session) => {
        await session.run(`INSERT INTO fact_payment (payment_id, created_date, last_updated_date, payment_date) VALUES (1, DATE '2022-01-01', DATE '2022-01-01', DATE '2022-01-10')`);
        await session.run(`CREATE TABLE int_calendar_range AS ${modelSqlOf('int_calendar_range')}`);
        return session.rows<{ days: bigint }>(`SELECT count(*) AS days FROM (${modelSqlOf('dim_date')})`);
      });
    expect(await days(['2022-01-02', '2022-01-05'])).toEqual([{ days: 10n }]);
    expect(await days(['2022-01-01', '2022-01-10'])).toEqual([{ days: 0n }]);
  });
});

describe('the row checks (functions/transform/row-tests.ts)', () => {
  it('name the relation, the row key, the field and why, check by check', async () => {
    const failing = await withDuckDb({ memoryLimitMb: 128, threads: 1, workRoot: tmpdir() }, async (session) => {
      await session.run(`CREATE TABLE current_keys_staff AS SELECT 19 AS staff_id`);
      await session.run(`CREATE TABLE stg_sales_order AS SELECT * FROM (VALUES (2, 19), (6, 999), (7, NULL)) AS t(sales_order_id, staff_id)`);
      await session.run(`CREATE TABLE dim_design AS SELECT * FROM (VALUES (3), (3), (4)) AS t(design_id)`);
      await session.run(`CREATE TABLE int_calendar_range AS SELECT DATE '2022-01-01' AS first_day, DATE '2022-12-31' AS last_day, true AS widened`);
      await session.run(`CREATE TABLE fact_payment AS SELECT * FROM (VALUES (1, DATE '2022-06-01'), (2, DATE '2023-01-01')) AS t(payment_id, payment_date)`);
      return failingRows(session, [
        { relation: 'stg_sales_order', key: 'sales_order_id', test: { test: 'relationships', column: 'staff_id', to: 'staff' } },
        { relation: 'dim_design', key: 'design_id', test: { test: 'unique', column: 'design_id' } },
        { relation: 'fact_payment', key: 'payment_id', test: { test: 'in_calendar', column: 'payment_date' } },
      ]);
    });
    expect(failing.map(({ check, key, field, reason }) => ({ relation: check.relation, key, field, reason }))).toEqual([
      { relation: 'stg_sales_order', key: '6', field: 'staff_id', reason: 'references staff_id=999, which no batch has delivered to staff' },
      { relation: 'dim_design', key: '3', field: 'design_id', reason: 'design_id=3 is on 2 rows' },
      { relation: 'fact_payment', key: '2', field: 'payment_date', reason: 'payment_date=2023-01-01 is not in int_calendar_range, so dim_date would not hold it' },
    ]);
  });
});
