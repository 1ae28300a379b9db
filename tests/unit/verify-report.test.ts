import { readVerifyConfig } from '../../functions/verify/config';
import { formatReport, summarize, type TableVerification, type VerificationResult } from '../../functions/verify/report';

const table = (name: TableVerification['table'], key: string, counts: Partial<TableVerification> = {}): TableVerification => ({
  table: name,
  key,
  compared: 0,
  warehouseRows: 0,
  missing: 0,
  extra: 0,
  different: 0,
  changedSince: 0,
  deletedKept: 0,
  quarantined: 0,
  examples: { missing: [], extra: [], different: [], changedSince: [], quarantined: [] },
  ...counts,
});

const mismatched: VerificationResult = {
  batchId: '0000000007',
  lakeId: '6f1c0b0e-0000-4000-8000-000000000001',
  extractedAt: '2026-12-02T10:00:00.000Z',
  mismatchedRows: 9,
  durationMs: 2345,
  tables: [
    table('dim_date', 'date_id', { compared: 36, warehouseRows: 36 }),
    table('dim_location', 'location_id', {
      compared: 30,
      warehouseRows: 30,
      different: 1,
      examples: { missing: [], extra: [], different: [{ key: 1, columns: [{ column: 'city', expected: 'Leeds', actual: 'Nowhere' }] }], changedSince: [], quarantined: [] },
    }),
    table('dim_design', 'design_id', { compared: 50, warehouseRows: 49, missing: 1, deletedKept: 2, examples: { missing: [8], extra: [], different: [], changedSince: [], quarantined: [] } }),
    table('fact_sales_order', 'sales_order_id', {
      compared: 1300,
      warehouseRows: 1307,
      extra: 7,
      changedSince: 12,
      examples: { missing: [], extra: [3, 4, 5, 6, 9], different: [], changedSince: [2, 10, 11, 12, 13], quarantined: [] },
    }),
  ],
};

describe('the verification report', () => {
  it('prints the counts per table, every mismatch with its first keys and columns, what changed since, and the verdict', () => {
    expect(formatReport(mismatched).split('\n')).toEqual([
      "Warehouse verification: the warehouse's current state against ToteSys as of batch 0000000007 (its snapshot, extracted 2026-12-02T10:00:00.000Z; lake 6f1c0b0e-0000-4000-8000-000000000001)",
      '',
      '  table             compared  missing  extra  different  changed since',
      '  dim_date                36        0      0          0              0',
      '  dim_location            30        0      0          1              0',
      '  dim_design              50        1      0          0              0',
      '  fact_sales_order     1,300        0      7          0             12',
      '  ----------------  --------  -------  -----  ---------  -------------',
      '  total                1,416        1      7          1             12',
      '',
      'Mismatches:',
      '  dim_location: different values, 1 row',
      '    location_id 1: city ToteSys "Leeds", warehouse "Nowhere"',
      '  dim_design: missing from the warehouse, design_id 8',
      '  fact_sales_order: in the warehouse but not in ToteSys, sales_order_id 3, 4, 5, 6, 9, … (7 in all)',
      '',
      'Changed in ToteSys since batch 0000000007 (not compared; the next run carries them):',
      '  fact_sales_order: sales_order_id 2, 10, 11, 12, 13, … (12 in all)',
      '',
      'Deleted from ToteSys, kept in their dimension as recorded in source_row_deletions (not compared):',
      '  dim_design: 2',
      '',
      'NOT EQUAL: 9 mismatched rows in 3 tables (2.3 s).',
    ]);
  });

  it('says EQUAL when nothing differs', () => {
    const equal: VerificationResult = { ...mismatched, mismatchedRows: 0, tables: [table('dim_date', 'date_id', { compared: 36, warehouseRows: 36 })] };
    expect(formatReport(equal).split('\n').at(-1)).toBe('EQUAL: the warehouse equals ToteSys as of batch 0000000007 (2.3 s).');
    expect(formatReport(equal)).not.toContain('Mismatches:');
  });

  it('summarises the result as counts per table, no keys', () => {
    expect(summarize(mismatched)).toEqual({
      batchId: '0000000007',
      mismatchedRows: 9,
      tables: {
        dim_date: { compared: 36, missing: 0, extra: 0, different: 0, changedSince: 0 },
        dim_location: { compared: 30, missing: 0, extra: 0, different: 1, changedSince: 0 },
        dim_design: { compared: 50, missing: 1, extra: 0, different: 0, changedSince: 0 },
        fact_sales_order: { compared: 1300, missing: 0, extra: 7, different: 0, changedSince: 12 },
      },
    });
  });
});

describe('the verify configuration', () => {
  const env = { TOTESYS_DATABASE_URL: 'postgres://t@h/totesys', WAREHOUSE_SECRET_ID: 'arn:aws:secretsmanager:eu-west-2:1:secret:w', INGESTION_BUCKET: 'ingestion' };

  it('reads both databases, the ingestion bucket and S3', () => {
    expect(readVerifyConfig(env)).toEqual({
      totesys: { url: 'postgres://t@h/totesys' },
      warehouse: { secretId: 'arn:aws:secretsmanager:eu-west-2:1:secret:w' },
      ingestionBucket: 'ingestion',
      s3: { region: 'eu-west-2', endpoint: undefined, forcePathStyle: false },
    });
  });

  it('names what is missing', () => {
    expect(() => readVerifyConfig({ ...env, INGESTION_BUCKET: ' ' })).toThrow('Missing INGESTION_BUCKET');
    expect(() => readVerifyConfig({ ...env, WAREHOUSE_SECRET_ID: undefined })).toThrow('Missing WAREHOUSE_DATABASE_URL (a postgres:// URL) or WAREHOUSE_SECRET_ID');
    expect(() => readVerifyConfig({ ...env, TOTESYS_SECRET_ID: 'x' })).toThrow('Set only one of TOTESYS_DATABASE_URL and TOTESYS_SECRET_ID');
  });
});
