/**
 * A set of integer keys as sorted, disjoint, non-adjacent inclusive ranges: `[[1, 6], [8, 13000]]`.
 * ToteSys keys are serials, so a table of millions of rows is a handful of ranges, and each
 * deletion splits one range in two. All functions return new arrays.
 */
export type KeyRanges = readonly (readonly [number, number])[];

export function countKeys(ranges: KeyRanges): number {
  let count = 0;
  for (const [start, end] of ranges) count += end - start + 1;
  return count;
}

/** The ranges of sorted, distinct keys. */
export function rangesOfSortedKeys(keys: readonly number[]): [number, number][] {
  const ranges: [number, number][] = [];
  for (const key of keys) {
    const last = ranges.at(-1);
    if (last && key === last[1] + 1) last[1] = key;
    else if (!last || key > last[1]) ranges.push([key, key]);
    else throw new RangeError(`keys are not sorted and distinct at ${key}`);
  }
  return ranges;
}

function sortedDistinct(keys: readonly number[]): number[] {
  return [...new Set(keys)].sort((a, b) => a - b);
}

/** Every key of `ranges` within [low, high], ascending. */
export function keysBetween(ranges: KeyRanges, low: number, high: number): number[] {
  const keys: number[] = [];
  for (const [start, end] of ranges) {
    for (let key = Math.max(start, low); key <= Math.min(end, high); key += 1) keys.push(key);
  }
  return keys;
}

/** How many keys of `ranges` lie within [low, high]. */
export function countBetween(ranges: KeyRanges, low: number, high: number): number {
  let count = 0;
  for (const [start, end] of ranges) {
    const from = Math.max(start, low);
    const to = Math.min(end, high);
    if (from <= to) count += to - from + 1;
  }
  return count;
}

/** The union of `ranges` and `keys`. */
export function withKeys(ranges: KeyRanges, keys: readonly number[]): [number, number][] {
  const merged: [number, number][] = [];
  const add = (start: number, end: number) => {
    const last = merged.at(-1);
    if (last && start <= last[1] + 1) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  };
  const added = sortedDistinct(keys);
  let i = 0;
  for (const [start, end] of ranges) {
    while (i < added.length && added[i]! < start) add(added[i]!, added[i++]!);
    add(start, end);
  }
  while (i < added.length) add(added[i]!, added[i++]!);
  return merged;
}

/** `ranges` less `keys`. */
export function withoutKeys(ranges: KeyRanges, keys: readonly number[]): [number, number][] {
  const removed = sortedDistinct(keys);
  const result: [number, number][] = [];
  let i = 0;
  for (const [start, end] of ranges) {
    let from = start;
    while (i < removed.length && removed[i]! < start) i += 1;
    while (i < removed.length && removed[i]! <= end) {
      if (removed[i]! > from) result.push([from, removed[i]! - 1]);
      from = removed[i]! + 1;
      i += 1;
    }
    if (from <= end) result.push([from, end]);
  }
  return result;
}

/** How the keys present now can be asked for: a count, or the list, of keys within [low, high]. */
export interface KeyProbe {
  count(low: number, high: number): Promise<number>;
  list(low: number, high: number): Promise<number[]>;
}

/** Below this many candidate keys an interval's keys are listed rather than split further. */
const LIST_BELOW = 4096;

/**
 * The keys of `candidates` that are no longer present, given that every present key is a
 * candidate and that `present` keys are there in all. Intervals whose count matches hold no
 * deletion and are never read again; the others are halved until small enough to list, so the
 * cost follows the deletions, not the table.
 */
export async function findMissingKeys(candidates: KeyRanges, present: number, probe: KeyProbe): Promise<number[]> {
  if (candidates.length === 0) return [];
  const missing: number[] = [];
  const visit = async (low: number, high: number, actual: number): Promise<void> => {
    const expected = countBetween(candidates, low, high);
    if (actual === expected) return;
    if (actual > expected) throw new RangeError(`${actual} keys present in [${low}, ${high}], more than the ${expected} candidates`);
    if (expected <= LIST_BELOW || low === high) {
      const there = new Set(await probe.list(low, high));
      for (const key of keysBetween(candidates, low, high)) if (!there.has(key)) missing.push(key);
      return;
    }
    const middle = Math.floor((low + high) / 2);
    const left = await probe.count(low, middle);
    await visit(low, middle, left);
    await visit(middle + 1, high, actual - left);
  };
  await visit(candidates[0]![0], candidates.at(-1)![1], present);
  return missing;
}
