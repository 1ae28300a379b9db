import { changedKeysSql, changedRowsCopySql } from '../../functions/extract/row-versions';
import { TOTESYS_TABLES } from '../../functions/shared/totesys-tables';
import { WAREHOUSE_TABLE_NAMES, WAREHOUSE_TABLES } from '../../functions/shared/warehouse-tables';
import { bucketKeyRanges, compareByKey, differentColumns, differingBuckets, sameRowText } from '../../functions/verify/compare-rows';
import {
  calendarSql,
  COMPARED_TABLE_NAMES,
  englishCurrencyNameLookup,
  EXPECTED_TABLES,
  factDateColumns,
  typedColumns,
  warehouseRelation,
} from '../../functions/verify/expected-rows';

describe('verification buckets', () => {
  it('finds the buckets whose count or hash sum differs, or that only one side has, ascending', () => {
    const expected = new Map([
      [0, { rows: 1024, hash: '17' }],
      [1, { rows: 1024, hash: '5' }],
      [2, { rows: 10, hash: '-3' }],
      [7, { rows: 1, hash: '9' }],
    ]);
    const actual = new Map([
      [0, { rows: 1024, hash: '17' }],
      [1, { rows: 1024, hash: '6' }],
      [2, { rows: 9, hash: '-3' }],
      [5, { rows: 1, hash: '4' }],
    ]);
    expect(differingBuckets(expected, actual)).toEqual([1, 2, 5, 7]);
    expect(differingBuckets(expected, new Map(expected))).toEqual([]);
  });

  it('reads neighbouring buckets as one key range, 2^bits keys each', () => {
    expect(bucketKeyRanges({ bits: 10, ids: [0, 1, 3] })).toEqual([
      [0, 2047],
      [3072, 4095],
    ]);
    expect(bucketKeyRanges({ bits: 10, ids: [-1, 0] })).toEqual([[-1024, 1023]]);
    expect(bucketKeyRanges({ bits: 5, ids: [2, 4, 5] })).toEqual([
      [64, 95],
      [128, 191],
    ]);
    expect(bucketKeyRanges({ bits: 10, ids: [] })).toEqual([]);
  });
});

describe('comparing rows by key', () => {
  it('sorts keys into missing, extra and different, each ascending', () => {
    const expected = new Map([
      [3, 'a'],
      [1, 'b'],
      [2, 'c'],
      [9, 'd'],
    ]);
    const actual = new Map([
      [2, 'c'],
      [9, 'x'],
      [1, 'y'],
      [4, 'z'],
      [0, 'w'],
    ]);
    expect(compareByKey(expected, actual, (a, b) => a === b)).toEqual({ missing: [3], extra: [0, 4], different: [1, 9] });
  });

  it('compares dates as keys in calendar order', () => {
    const row = ['x'];
    const expected = new Map([
      ['2022-11-03', row],
      ['2022-11-05', row],
    ]);
    const actual = new Map([
      ['2022-11-04', row],
      ['2022-11-03', ['y']],
    ]);
    expect(compareByKey(expected, actual, sameRowText)).toEqual({ missing: ['2022-11-05'], extra: ['2022-11-04'], different: ['2022-11-03'] });
  });

  it('names the columns whose values differ, NULL included', () => {
    expect(differentColumns(['id', 'city', 'district'], ['1', 'Leeds', null], ['1', 'York', ''])).toEqual([
      { column: 'city', expected: 'Leeds', actual: 'York' },
      { column: 'district', expected: null, actual: '' },
    ]);
    expect(differentColumns(['id'], ['1'], ['1'])).toEqual([]);
  });
});

describe('expected rows', () => {
  it('gives every compared table an expression for exactly its warehouse columns, and compares every table', () => {
    for (const name of COMPARED_TABLE_NAMES) {
      const expected = EXPECTED_TABLES[name];
      expect({ name, columns: Object.keys(expected.columns) }).toEqual({ name, columns: WAREHOUSE_TABLES[name].columns.map((c) => c.name) });
      expect(expected.columns[expected.key]).toBeDefined();
    }
    expect(['dim_date', ...COMPARED_TABLE_NAMES].sort()).toEqual([...WAREHOUSE_TABLE_NAMES].sort());
  });

  it('casts both sides to the warehouse types, varchar as text', () => {
    expect(typedColumns('fact_payment').map((c) => `${c.name} ${c.sqlType}`)).toEqual([
      'payment_id integer',
      'created_date date',
      'created_time time',
      'last_updated_date date',
      'last_updated_time time',
      'transaction_id integer',
      'counterparty_id integer',
      'payment_amount numeric(10,2)',
      'currency_id integer',
      'payment_type_id integer',
      'paid boolean',
      'payment_date date',
    ]);
    expect(typedColumns('dim_location').find((c) => c.name === 'city')?.sqlType).toBe('text');
  });

  it("reads a fact's current rows from its current_* view, or from the latest versions before the views existed", () => {
    expect(warehouseRelation('fact_sales_order', true)).toBe('current_sales_order');
    expect(warehouseRelation('fact_payment', true)).toBe('current_payment');
    expect(warehouseRelation('fact_purchase_order', false)).toBe(
      '(SELECT DISTINCT ON ("purchase_order_id") * FROM fact_purchase_order ORDER BY "purchase_order_id", "purchase_record_id" DESC)',
    );
    expect(warehouseRelation('dim_staff', true)).toBe('dim_staff');
  });

  it('names currencies in English from the platform data, and leaves out codes it does not know', () => {
    expect(englishCurrencyNameLookup(['GBP', 'USD', 'EUR', 'XQQ', 'gbp', 'GBP', 'JPY'])).toEqual({
      codes: ['GBP', 'USD', 'EUR', 'JPY'],
      names: ['British Pound', 'US Dollar', 'Euro', 'Japanese Yen'],
    });
  });

  it('builds the calendar from every date column of every fact', () => {
    const columns = ['fact_sales_order', 'fact_purchase_order', 'fact_payment'].flatMap((fact) => factDateColumns(fact as 'fact_payment').map((c) => `${fact}.${c}`));
    expect(columns).toEqual([
      'fact_sales_order.created_date',
      'fact_sales_order.last_updated_date',
      'fact_sales_order.agreed_payment_date',
      'fact_sales_order.agreed_delivery_date',
      'fact_purchase_order.created_date',
      'fact_purchase_order.last_updated_date',
      'fact_purchase_order.agreed_delivery_date',
      'fact_purchase_order.agreed_payment_date',
      'fact_payment.created_date',
      'fact_payment.last_updated_date',
      'fact_payment.payment_date',
    ]);
    const sql = calendarSql();
    for (const column of columns) expect(sql).toContain(`"${column.split('.')[1]}"`);
  });
});

describe('changed keys since a batch', () => {
  it("applies exactly Extract's rule for new row versions, selecting only the key", () => {
    for (const table of Object.values(TOTESYS_TABLES)) {
      for (const mode of ['changed', 'changed-prefiltered'] as const) {
        const keys = changedKeysSql(table, mode);
        expect(keys.startsWith(`SELECT t."${table.primaryKey}" AS key\n    FROM "public"."${table.name}" t CROSS JOIN LATERAL`)).toBe(true);
        const rule = keys.slice(keys.indexOf('\n'));
        for (const prefilter of [true, false]) expect(changedRowsCopySql(table, mode, prefilter)).toContain(rule);
      }
    }
  });
});
