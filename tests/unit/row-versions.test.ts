import { canPrefilterCurrent, extractionBounds, formatSnapshot, parseSnapshot, scanMode } from '../../functions/extract/row-versions';
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
      'totesys_extract.after_xid32': '0',
      'totesys_extract.snapshot_xmin32': '120',
      'totesys_extract.committed_xids': '{}',
    });
    expect(extractionBounds(current, { snapshot: '100:110:104', committedXids: ['100', '101', '105'] })).toEqual({
      'totesys_extract.next_xid': '130',
      'totesys_extract.after_xid': '100',
      'totesys_extract.after_xid32': '100',
      'totesys_extract.snapshot_xmin32': '120',
      'totesys_extract.committed_xids': '{100,101,105}',
    });
  });

  it('gives age() the 32-bit form of 64-bit ids, past a wraparound', () => {
    const bounds = extractionBounds(parseSnapshot('4294967390:4294967400:'), { snapshot: '4294967290:4294967300:', committedXids: [] });
    expect(bounds['totesys_extract.after_xid32']).toBe('4294967290');
    expect(bounds['totesys_extract.snapshot_xmin32']).toBe('94');
  });

  it('scans everything on the first run, and pre-filters with age() only while the bound is safely within 2^31 ids', () => {
    const previous = { snapshot: '1000:1000:', committedXids: [] };
    expect(scanMode(parseSnapshot('2000:2000:'), undefined)).toBe('all');
    expect(scanMode(parseSnapshot('2000:2000:'), previous)).toBe('changed-prefiltered');
    expect(scanMode(parseSnapshot(`${2n ** 31n + 1000n}:${2n ** 31n + 1000n}:`), previous)).toBe('changed');
    expect(canPrefilterCurrent(parseSnapshot('5:10:'))).toBe(true);
    expect(canPrefilterCurrent(parseSnapshot(`5:${2n ** 31n + 5n}:`))).toBe(false);
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
