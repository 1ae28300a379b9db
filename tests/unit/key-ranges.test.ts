import { countBetween, countKeys, findMissingKeys, keysBetween, rangesOfSortedKeys, withKeys, withoutKeys, type KeyProbe } from '../../functions/extract/key-ranges';

describe('key ranges', () => {
  it('folds sorted keys into ranges and counts them', () => {
    expect(rangesOfSortedKeys([1, 2, 3, 5, 7, 8])).toEqual([[1, 3], [5, 5], [7, 8]]);
    expect(countKeys([[1, 3], [5, 5], [7, 8]])).toBe(6);
    expect(() => rangesOfSortedKeys([2, 1])).toThrow(/not sorted/);
  });

  it('adds keys, merging ranges they join', () => {
    expect(withKeys([[1, 3], [7, 8]], [4, 6, 10, 0, 2])).toEqual([[0, 4], [6, 8], [10, 10]]);
    expect(withKeys([], [3, 1, 2])).toEqual([[1, 3]]);
  });

  it('removes keys, splitting ranges', () => {
    expect(withoutKeys([[1, 10]], [1, 5, 10, 42])).toEqual([[2, 4], [6, 9]]);
    expect(withoutKeys([[1, 1], [3, 4]], [1, 3, 4])).toEqual([]);
  });

  it('counts and lists keys within an interval', () => {
    expect(countBetween([[1, 10], [20, 30]], 5, 25)).toBe(12);
    expect(keysBetween([[1, 3], [8, 9]], 2, 8)).toEqual([2, 3, 8]);
  });

  it('finds the missing keys of a large set by counting intervals, listing only small ones', async () => {
    const present = new Set<number>();
    for (let key = 1; key <= 100_000; key += 1) if (key % 9973 !== 0 && key !== 1 && key !== 100_000) present.add(key);
    const listed: number[] = [];
    const probe: KeyProbe = {
      count: async (low, high) => [...present].filter((key) => key >= low && key <= high).length,
      list: async (low, high) => {
        listed.push(high - low + 1);
        return [...present].filter((key) => key >= low && key <= high);
      },
    };
    const missing = await findMissingKeys([[1, 100_000]], present.size, probe);
    expect(missing.sort((a, b) => a - b)).toEqual([1, 9973, 19946, 29919, 39892, 49865, 59838, 69811, 79784, 89757, 99730, 100_000]);
    expect(Math.max(...listed)).toBeLessThanOrEqual(4096);
    expect(await findMissingKeys([[1, 10]], 10, probe)).toEqual([]);
  });

  it('refuses a count above the candidates: the state does not fit the database', async () => {
    const probe: KeyProbe = { count: async () => 0, list: async () => [] };
    await expect(findMissingKeys([[1, 10]], 11, probe)).rejects.toThrow(/more than the 10 candidates/);
  });
});
