import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { withDuckDb } from '../../functions/shared/duckdb-session';
import { MODELS_DIR } from '../../functions/transform/run-models';

/**
 * The value rules (functions/transform/models/macros/row_rules.sql) as the staging models apply
 * them to JSONL: the first rule each line breaks, or none.
 */
describe('the row rules of the staging models', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'row-rules-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const good = {
    payment_id: 1,
    transaction_id: 2,
    counterparty_id: 3,
    payment_amount: '552548.62',
    currency_id: 1,
    payment_type_id: 1,
    paid: false,
    payment_date: '2022-11-04',
    company_ac_number: 67305075,
    counterparty_ac_number: 31622269,
    created_at: '2022-11-03T14:20:52.187',
    last_updated: '2022-11-03 14:20:52',
  };

  /** The `_problem` of each of `rows` through staging model `model`, as `field: value problem` (null when none). */
  async function problems(rows: Record<string, unknown>[], model = 'stg_payment'): Promise<(string | null)[]> {
    const file = path.join(dir, `${model}-${rows.length}-${Date.now()}.jsonl.gz`);
    writeFileSync(file, gzipSync(rows.map((row, i) => JSON.stringify({ _line: i + 1, ...row })).join('\n')));
    return withDuckDb({ memoryLimitMb: 128, threads: 1, workRoot: dir }, async (session) => {
      await session.run(readFileSync(path.join(MODELS_DIR, 'macros/row_rules.sql'), 'utf-8'));
      await session.run(`SET VARIABLE earliest_accepted_day = '1970-01-01'; SET VARIABLE latest_accepted_day = '2099-12-31'`);
      await session.run(`SET VARIABLE staging_jsonl = $1`, [file]);
      const found = await session.rows<{ p: { field: string; value: string | null; problem: string } | null }>(
        `SELECT _problem AS p FROM (${readFileSync(path.join(MODELS_DIR, `staging/${model}.sql`), 'utf-8')}) ORDER BY _line`,
      );
      return found.map(({ p }) => (p ? `${p.field}: ${p.value === null ? '' : `${p.value} `}${p.problem}` : null));
    });
  }

  it('let a good row through, with numerics as strings or numbers', async () => {
    expect(await problems([good, { ...good, payment_amount: 552548.62, payment_id: '4' }])).toEqual([null, null]);
  });

  it.each([
    ['a required value missing or null', { currency_id: null }, 'currency_id: required field is null'],
    ['an integer that is a word', { transaction_id: 'many' }, 'transaction_id: many is not an integer'],
    ['an integer with a fraction', { transaction_id: 3.5 }, 'transaction_id: 3.5 is not an integer'],
    ['an integer beyond PostgreSQL integer', { transaction_id: 2147483648 }, 'transaction_id: 2147483648 is not an integer'],
    ['a decimal with three places', { payment_amount: '1.005' }, 'payment_amount: 1.005 is not a number with at most 8 digits before the point and 2 after'],
    ['a boolean that is a word', { paid: 'yes' }, 'paid: yes is not true or false'],
    ['a boolean that is a number', { paid: 1 }, 'paid: 1 is not true or false'],
    ['a text date that is no day', { payment_date: '2022-02-30' }, 'payment_date: 2022-02-30 is not a date (YYYY-MM-DD)'],
    ['a timestamp with an offset', { created_at: '2022-11-03T14:20:52+01:00' }, 'created_at: 2022-11-03T14:20:52+01:00 is not a timestamp'],
    ['a timestamp with microseconds', { created_at: '2022-11-03T14:20:52.123456' }, 'created_at: 2022-11-03T14:20:52.123456 is not a timestamp'],
    ['a day after the latest accepted', { payment_date: '9999-12-31' }, 'payment_date: 9999-12-31 is after the latest day accepted, 2099-12-31 (PIPELINE_LATEST_DATE)'],
    ['a day before the earliest accepted', { last_updated: '1969-12-31 23:59:59' }, 'last_updated: 1969-12-31 23:59:59 is before the earliest day accepted, 1970-01-01 (PIPELINE_EARLIEST_DATE)'],
  ])('name %s', async (_what, change, problem) => {
    expect(await problems([{ ...good, ...change }])).toEqual([problem]);
  });

  it('name the first broken rule in column order', async () => {
    expect(await problems([{ ...good, paid: 'yes', transaction_id: 'many' }])).toEqual(['transaction_id: many is not an integer']);
  });

  it('check an enum against its labels, and a varchar(3) against its length', async () => {
    const stamps = { created_at: '2022-11-03T14:20:52.187', last_updated: '2022-11-03T14:20:52.187' };
    expect(await problems([{ payment_type_id: 1, payment_type_name: 'GIFT', ...stamps }], 'stg_payment_type')).toEqual([
      'payment_type_name: GIFT is not one of SALES_RECEIPT, SALES_REFUND, PURCHASE_PAYMENT, PURCHASE_REFUND',
    ]);
    expect(await problems([{ currency_id: 1, currency_code: 'GBPX', ...stamps }], 'stg_currency')).toEqual(['currency_code: GBPX is longer than 3 characters']);
  });
});
