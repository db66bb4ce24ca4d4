import type { SortSpec, VersionRecord } from '../engine.js';

type SortValue = string | number | undefined;
type KeyReader = (record: VersionRecord) => SortValue;

/**
 * The first `limit` records of `items` in `sort` order. A record without a
 * value for a key sorts after every record that has one, whichever the
 * direction (FHIR `_sort` users expect resources lacking the parameter at the
 * end); numbers come before strings, as in MongoDB's type order. `reverse`
 * gives the exact mirror of that order, records without a value first: the
 * order in which a `previous` page reads backwards from its cursor (flipping
 * each direction instead would still put them last, and that page would skip
 * and repeat records).
 *
 * Each record's keys are read once: records lie scattered over a large heap,
 * and reading them again at every comparison cost more than the comparisons.
 * A small limit keeps a bounded sorted window, so a page of 20 out of
 * 100,000 does not sort them all.
 */
export function sortAndLimit(items: VersionRecord[], sort: SortSpec, limit: number, reverse = false): VersionRecord[] {
  if (limit <= 0) return [];
  if (sort.length === 0) return items.length > limit ? items.slice(0, limit) : items;
  const readers = sort.map(([field]) => keyReader(field));
  const directions = sort.map(([, direction]) => direction);
  const keysOf = (record: VersionRecord, into: SortValue[]): SortValue[] => {
    for (let k = 0; k < readers.length; k++) into[k] = readers[k]!(record);
    return into;
  };
  const compare = reverse
    ? (x: SortValue[], y: SortValue[]): number => compareKeys(y, x, directions)
    : (x: SortValue[], y: SortValue[]): number => compareKeys(x, y, directions);

  if (items.length <= limit * 4) {
    const keyed = items.map((record) => ({ record, keys: keysOf(record, []) }));
    keyed.sort((a, b) => compare(a.keys, b.keys));
    return keyed.slice(0, limit).map((k) => k.record);
  }
  const window: Array<{ record: VersionRecord; keys: SortValue[] }> = [];
  let scratch: SortValue[] = [];
  for (const record of items) {
    const keys = keysOf(record, scratch);
    if (window.length === limit && compare(keys, window[limit - 1]!.keys) >= 0) continue;
    let lo = 0;
    let hi = window.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(window[mid]!.keys, keys) <= 0) lo = mid + 1;
      else hi = mid;
    }
    window.splice(lo, 0, { record, keys });
    scratch = [];
    if (window.length > limit) window.pop();
  }
  return window.map((k) => k.record);
}

/** Reads one sort field: `id`, `type` and `ts` directly, `srt.<key>` from the sort keys, anything else by path. */
function keyReader(field: string): KeyReader {
  if (field === 'id' || field === 'type' || field === 'ts') return (record) => record[field];
  if (field.startsWith('srt.')) {
    const key = field.slice(4);
    return (record) => sortValue(record.srt[key]);
  }
  const path = field.split('.');
  return (record) => {
    let v: unknown = record;
    for (const part of path) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[part];
    }
    return sortValue(v);
  };
}

function sortValue(v: unknown): SortValue {
  return typeof v === 'string' || typeof v === 'number' ? v : typeof v === 'boolean' ? String(v) : undefined;
}

function compareKeys(x: SortValue[], y: SortValue[], directions: Array<1 | -1>): number {
  for (let k = 0; k < directions.length; k++) {
    const a = x[k];
    const b = y[k];
    if (a === b) continue;
    if (a === undefined) return 1;
    if (b === undefined) return -1;
    const order = compareValues(a, b);
    if (order !== 0) return order * directions[k]!;
  }
  return 0;
}

function compareValues(x: string | number, y: string | number): number {
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  if (typeof x === 'number') return -1;
  if (typeof y === 'number') return 1;
  return x < y ? -1 : x > y ? 1 : 0;
}
