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

  it('finds the missing keys of a large set by counting keys per bucket, listing only the buckets that fall short', async () => {
    const present = new Set<number>();
    for (let key = 1; key <= 100_000; key += 1) if (key % 9973 !== 0 && key !== 1 && key !== 100_000) present.add(key);
    const listed: number[][] = [];
    const probe: KeyProbe = {
      countByBucket: async (low, high, width) => {
        const counts = new Map<number, number>();
        for (const key of present) if (key >= low && key <= high) counts.set(Math.floor((key - low) / width), (counts.get(Math.floor((key - low) / width)) ?? 0) + 1);
        return counts;
      },
      listBuckets: async (low, width, buckets) => {
        listed.push([...buckets]);
        return [...present].filter((key) => key >= low && buckets.includes(Math.floor((key - low) / width)));
      },
    };
    const missing = await findMissingKeys([[1, 100_000]], present.size, probe);
    expect(missing.sort((a, b) => a - b)).toEqual([1, 9973, 19946, 29919, 39892, 49865, 59838, 69811, 79784, 89757, 99730, 100_000]);
    // Only the twelve buckets (of 64 keys) that hold a deletion are listed, in one call.
    expect(listed).toHaveLength(1);
    expect(listed[0]).toHaveLength(12);
    expect(await findMissingKeys([[1, 10]], 10, probe)).toEqual([]);
  });

  it('refuses a count above the candidates: the state does not fit the database', async () => {
    const probe: KeyProbe = { countByBucket: async () => new Map([[0, 11]]), listBuckets: async () => [] };
    await expect(findMissingKeys([[1, 10]], 11, probe)).rejects.toThrow(/more than the 10 candidates/);
    await expect(findMissingKeys([[1, 10]], 9, probe)).rejects.toThrow(/11 keys present in \[1, 64\], more than the 10 candidates/);
  });
});
