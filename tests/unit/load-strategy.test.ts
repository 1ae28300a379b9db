import { BULK_ROWS, chooseStrategy, type StrategyFacts } from '../../functions/load/load-strategy';

const facts = (overrides: Partial<StrategyFacts>): StrategyFacts => ({
  kind: 'fact',
  incomingRows: 0,
  bulkRows: BULK_ROWS,
  tableEmpty: false,
  tableRows: 0,
  ...overrides,
});

describe("Load's choice of strategy", () => {
  it('copies a large batch straight into an empty table, fact or dimension', () => {
    expect(chooseStrategy(facts({ kind: 'fact', incomingRows: 180_000, tableEmpty: true }))).toEqual({
      strategy: 'first-load',
      reason: '180000 rows (at least 10000) into an empty table',
    });
    expect(chooseStrategy(facts({ kind: 'dimension', incomingRows: 10_000, tableEmpty: true })).strategy).toBe('first-load');
  });

  it('applies a small batch incrementally, even into an empty table', () => {
    expect(chooseStrategy(facts({ incomingRows: 33, tableEmpty: true }))).toEqual({ strategy: 'incremental', reason: '33 rows, fewer than 10000' });
    expect(chooseStrategy(facts({ incomingRows: 9_999, tableRows: 1_000 })).strategy).toBe('incremental');
    expect(chooseStrategy(facts({ kind: 'dimension', incomingRows: 9_999, tableEmpty: true })).strategy).toBe('incremental');
  });

  it('applies a fact batch in bulk when it is large and at least a fifth of the table', () => {
    expect(chooseStrategy(facts({ incomingRows: 10_000, tableRows: 50_000 }))).toEqual({
      strategy: 'bulk',
      reason: "10000 rows, at least 10000 and a fifth of the table's ~50000",
    });
    expect(chooseStrategy(facts({ incomingRows: 10_000, tableRows: 50_005 }))).toEqual({
      strategy: 'incremental',
      reason: "10000 rows, less than a fifth of the table's ~50005",
    });
    // A table that holds rows PostgreSQL has not estimated yet (reltuples read as 0).
    expect(chooseStrategy(facts({ incomingRows: 12_000, tableRows: 0 })).strategy).toBe('bulk');
  });

  it('always upserts into a dimension that holds rows, however large the batch', () => {
    expect(chooseStrategy(facts({ kind: 'dimension', incomingRows: 500_000, tableRows: 1_000 }))).toEqual({
      strategy: 'incremental',
      reason: '500000 rows upserted into a dimension that holds rows',
    });
  });

  it('follows the threshold it is given (the tests load with bulkRows 1)', () => {
    expect(chooseStrategy(facts({ bulkRows: 1, incomingRows: 33, tableEmpty: true })).strategy).toBe('first-load');
    expect(chooseStrategy(facts({ bulkRows: 1, incomingRows: 33, tableRows: 33 })).strategy).toBe('bulk');
    expect(chooseStrategy(facts({ bulkRows: 1, incomingRows: 1, tableRows: 33 })).strategy).toBe('incremental');
  });
});
