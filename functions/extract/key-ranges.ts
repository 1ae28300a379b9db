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

/** How the keys present now can be asked for, by fixed-width buckets of keys from `low`. */
export interface KeyProbe {
  /** How many keys lie in each bucket `floor((key - low) / width)` of [low, high] (buckets with none may be left out). */
  countByBucket(low: number, high: number, width: number): Promise<Map<number, number>>;
  /** Every key in the given buckets (same numbering), any order. */
  listBuckets(low: number, width: number, buckets: readonly number[]): Promise<number[]>;
}

/** At most this many buckets a count: one aggregate over the table, a small answer. */
const MAX_BUCKETS = 65_536;
const MIN_WIDTH = 64;

/**
 * The keys of `candidates` that are no longer present, given that every present key is a
 * candidate and that `present` keys are there in all. Two queries whatever the number of
 * deletions: the present keys counted per bucket of keys, then the keys of the buckets whose
 * count falls short listed and compared; so the work is one pass over the key index plus the
 * buckets that hold deletions.
 */
export async function findMissingKeys(candidates: KeyRanges, present: number, probe: KeyProbe): Promise<number[]> {
  if (candidates.length === 0) return [];
  const expected = countKeys(candidates);
  if (present > expected) throw new RangeError(`${present} keys present, more than the ${expected} candidates`);
  if (present === expected) return [];
  const low = candidates[0]![0];
  const high = candidates.at(-1)![1];
  const width = Math.max(MIN_WIDTH, Math.ceil((high - low + 1) / MAX_BUCKETS));
  const counted = await probe.countByBucket(low, high, width);
  const short: number[] = [];
  for (let bucket = 0; bucket * width <= high - low; bucket += 1) {
    const from = low + bucket * width;
    const wanted = countBetween(candidates, from, Math.min(from + width - 1, high));
    const there = counted.get(bucket) ?? 0;
    if (there > wanted) throw new RangeError(`${there} keys present in [${from}, ${from + width - 1}], more than the ${wanted} candidates`);
    if (there < wanted) short.push(bucket);
  }
  const there = new Set(await probe.listBuckets(low, width, short));
  const missing: number[] = [];
  for (const bucket of short) {
    const from = low + bucket * width;
    for (const key of keysBetween(candidates, from, Math.min(from + width - 1, high))) if (!there.has(key)) missing.push(key);
  }
  return missing;
}
