import type { SortSpec, VersionRecord } from '../engine.js';

type Comparator = (a: VersionRecord, b: VersionRecord) => number;

/**
 * Orders records by `sort`. A record without a value for a key sorts after
 * every record that has one, whichever the direction (FHIR `_sort` users
 * expect resources lacking the parameter at the end); numbers come before
 * strings, as in MongoDB's type order.
 */
export function compareRecords(sort: SortSpec): Comparator {
  const keys = sort.map(([field, direction]) => ({ path: field.split('.'), direction }));
  return (a, b) => {
    for (const { path, direction } of keys) {
      const x = valueAt(a, path);
      const y = valueAt(b, path);
      if (x === y) continue;
      if (x === undefined) return 1;
      if (y === undefined) return -1;
      const order = compareValues(x, y);
      if (order !== 0) return order * direction;
    }
    return 0;
  };
}

/**
 * The first `limit` records of `items` in `sort` order. Keeps only a bounded
 * sorted window when the limit is small, so a page of 20 out of 100,000 does
 * not sort them all.
 */
export function sortAndLimit(items: VersionRecord[], sort: SortSpec, limit: number): VersionRecord[] {
  if (limit <= 0) return [];
  if (sort.length === 0) return items.length > limit ? items.slice(0, limit) : items;
  const compare = compareRecords(sort);
  if (items.length <= limit * 4) return items.sort(compare).slice(0, limit);
  const window: VersionRecord[] = [];
  for (const item of items) {
    if (window.length === limit && compare(item, window[limit - 1]!) >= 0) continue;
    let lo = 0;
    let hi = window.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(window[mid]!, item) <= 0) lo = mid + 1;
      else hi = mid;
    }
    window.splice(lo, 0, item);
    if (window.length > limit) window.pop();
  }
  return window;
}

function valueAt(record: VersionRecord, path: string[]): string | number | undefined {
  let v: unknown = record;
  for (const part of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return typeof v === 'string' || typeof v === 'number' ? v : typeof v === 'boolean' ? String(v) : undefined;
}

function compareValues(x: string | number, y: string | number): number {
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  if (typeof x === 'number') return -1;
  if (typeof y === 'number') return 1;
  return x < y ? -1 : x > y ? 1 : 0;
}
