import { extractionBounds, formatSnapshot, parseSnapshot } from '../../functions/extract/row-versions';
import { schemaDifferences } from '../../functions/extract/schema-drift';
import { TOTESYS_TABLES } from '../../functions/shared/totesys-tables';

describe('snapshots and extraction bounds', () => {
  it('parses and prints pg_snapshot text, with and without transactions in progress', () => {
    expect(parseSnapshot('4294967300:4294967310:4294967301,4294967305')).toEqual({
      xmin: 4294967300n,
      xmax: 4294967310n,
      xip: [4294967301n, 4294967305n],
    });
    expect(formatSnapshot(parseSnapshot('10:12:'))).toBe('10:12:');
    expect(() => parseSnapshot('10:x:')).toThrow('Not a pg_snapshot');
  });

  it('reads everything on the first run and from the previous snapshot xmin afterwards', () => {
    const current = parseSnapshot('120:130:125');
    expect(extractionBounds(current, undefined)).toEqual({
      'totesys_extract.next_xid': '130',
      'totesys_extract.after_xid': '0',
      'totesys_extract.committed_xids': '{}',
    });
    expect(extractionBounds(current, { snapshot: '100:110:104', committedXids: ['100', '101', '105'] })).toEqual({
      'totesys_extract.next_xid': '130',
      'totesys_extract.after_xid': '100',
      'totesys_extract.committed_xids': '{100,101,105}',
    });
  });
});

describe('schema differences', () => {
  const live = Object.values(TOTESYS_TABLES).flatMap((table) =>
    Object.entries(table.columns).map(([column_name, column_type]) => ({ table_name: table.name, column_name, column_type })),
  );

  it('finds none when the live schema matches', () => {
    expect(schemaDifferences(Object.values(TOTESYS_TABLES), live)).toEqual([]);
  });

  it('names every added, dropped and retyped column and missing table', () => {
    const drifted = live
      .filter((c) => c.table_name !== 'currency' && !(c.table_name === 'staff' && c.column_name === 'email_address'))
      .map((c) => (c.table_name === 'payment' && c.column_name === 'paid' ? { ...c, column_type: 'text' } : c))
      .concat({ table_name: 'design', column_name: 'colour', column_type: 'text' });
    expect(schemaDifferences(Object.values(TOTESYS_TABLES), drifted)).toEqual([
      'table currency is missing',
      'design.colour (text) was added',
      'payment.paid is text, expected boolean',
      'staff.email_address was dropped',
    ]);
  });
});
