import type { Document } from 'mongodb';
import type { SortSpec } from '../engine.js';

/** Fields every record has, so MongoDB's own ordering of them needs no help. */
const ALWAYS_PRESENT = new Set(['type', 'id', 'vid', 'ts', 'hk', 'lastUpdated']);

/** How a find sorts: `order` for `$sort` (or the driver's `sort`), after `$addFields: flags` when there are any. */
export interface SortPlan {
  /** The "missing" flags to compute first; undefined when every sorted field is always present. */
  flags?: Document;
  order: Record<string, 1 | -1>;
  /** The flags' field names, to drop from the answer. */
  flagFields: string[];
}

/**
 * Puts records in `sort` order as the embedded engine does
 * (embedded/sort-records.ts): records lacking a sort value go last in either
 * direction, through a 0/1 "missing" flag per optional key that sorts ahead of
 * the value itself. `reverse` is the exact mirror of that order, the flags
 * flipped with the directions (records lacking a value first): what a
 * `previous` page reads backwards from its cursor.
 */
export function sortPlan(sort: SortSpec, reverse = false): SortPlan {
  const flip = reverse ? -1 : 1;
  const optional = [...new Set(sort.map(([field]) => field).filter((field) => !ALWAYS_PRESENT.has(field)))];
  const order: Record<string, 1 | -1> = {};
  for (const [field, direction] of sort) {
    // The first occurrence decides, as in the embedded engine (MongoDB would keep the key's first place but its last direction).
    if (field in order) continue;
    const i = optional.indexOf(field);
    if (i >= 0) order[`_m${i}`] = flip;
    order[field] = direction === flip ? 1 : -1;
  }
  if (optional.length === 0) return { order, flagFields: [] };
  const flags: Document = {};
  optional.forEach((field, i) => {
    flags[`_m${i}`] = { $cond: [{ $in: [{ $type: `$${field}` }, ['missing', 'null']] }, 1, 0] };
  });
  return { flags, order, flagFields: Object.keys(flags) };
}
