/**
 * `items` in an order that puts each after everything it depends on: of the items whose
 * dependencies are all placed (`placed` from the start, then each item as it is placed), the
 * first in `items` goes next, so the order is stable. Returns the names of the items left over
 * when they depend on each other in a circle (or on something never placed) as `circle`.
 */
export function dependencyOrder<T>(
  items: readonly T[],
  nameOf: (item: T) => string,
  dependsOn: (item: T) => readonly string[],
  placed: Iterable<string> = [],
): { readonly order: T[]; readonly circle: string[] } {
  const order: T[] = [];
  const done = new Set(placed);
  while (order.length < items.length) {
    const next = items.find((item) => !done.has(nameOf(item)) && dependsOn(item).every((name) => done.has(name)));
    if (next === undefined) return { order, circle: items.map(nameOf).filter((name) => !done.has(name)) };
    order.push(next);
    done.add(nameOf(next));
  }
  return { order, circle: [] };
}
