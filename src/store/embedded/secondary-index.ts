import type { Filter, VersionRecord } from '../engine.js';
import { OrdinalBits } from './ordinal-bits.js';

/** What the index points at: the live state of one (type, id). */
export interface Indexed {
  current: VersionRecord;
  /** Its number in the index that holds it, given on first add; -1 before. */
  ordinal: number;
}

/**
 * One value's entries, as the items' ordinals; a lone entry is kept bare,
 * since most identifier values are unique, and a value that many items hold
 * as one bit per ordinal (see DENSE_FROM). Numbers rather than the items: a
 * membership test on a number reads only the posting, where a test on an
 * object reads the object too (its identity hash), a cache miss per
 * candidate on a large store.
 */
type Posting = number | Set<number> | OrdinalBits;

/**
 * A Set posting becomes OrdinalBits once it has this many members and holds
 * at least one item in 64 of its index: then the bits take less memory than
 * the Set, and reading them all costs no more than iterating it.
 */
const DENSE_FROM = 512;
const DENSE_SHARE = 64;

/**
 * A set of candidates (ordinals) that is a superset of the records a filter
 * can match: the union of its postings. `undefined` when the filter gives no
 * handle.
 */
interface Narrowing {
  size: number;
  has(ordinal: number): boolean;
  items(): Iterable<number>;
  /**
   * The candidates are exactly the records the filter matches: every
   * condition was an equality the postings answer in full, so testing each
   * candidate against the filter again would change nothing.
   */
  exact?: boolean;
}

/** The candidates a filter leaves, and whether they are exactly its matches (see Narrowing.exact). */
export interface Candidates<T> {
  items: T[];
  exact: boolean;
}

/** Fields of `idx.<param>[]` whose string values are worth an exact-match index. */
const INDEXED_FIELDS = ['sc', 'c', 'r', 'i', 'u', 'f'] as const;

/**
 * In-memory inverted indexes over the current, non-deleted versions: `comp`
 * and `idx.<param>.<field>` for the fields above. They only narrow the
 * candidates of a filter; the filter itself (mingo) still decides, so an
 * index can never change a result, only its cost.
 */
export class SecondaryIndex<T extends Indexed> {
  /**
   * value -> posting, per `comp` and per idx parameter and field. Nested maps
   * rather than one map keyed by path: no key string is built per write, and
   * the values are the records' own strings.
   */
  private readonly comp = new Map<string, Posting>();
  private readonly byParam = new Map<string, Map<string, Map<string, Posting>>>();
  /** Items by ordinal. */
  private readonly items: T[] = [];

  add(item: T, record: VersionRecord): void {
    if (item.ordinal < 0) item.ordinal = this.items.push(item) - 1;
    const ordinal = item.ordinal;
    const items = this.items.length;
    this.visit(record, true, (values, value) => {
      const posting = values.get(value);
      if (posting === undefined) values.set(value, ordinal);
      else if (typeof posting !== 'number') {
        posting.add(ordinal);
        if (posting instanceof Set && posting.size >= DENSE_FROM && posting.size * DENSE_SHARE >= items) values.set(value, new OrdinalBits(items, posting));
      } else if (posting !== ordinal) values.set(value, new Set([posting, ordinal]));
    });
  }

  remove(item: T, record: VersionRecord): void {
    const ordinal = item.ordinal;
    if (ordinal < 0) return;
    this.visit(record, false, (values, value) => {
      const posting = values.get(value);
      if (posting === undefined) return;
      if (typeof posting !== 'number') {
        posting.delete(ordinal);
        if (posting.size === 1) values.set(value, posting[Symbol.iterator]().next().value as number);
        else if (posting.size === 0) values.delete(value);
      } else if (posting === ordinal) {
        values.delete(value);
      }
    });
  }

  /**
   * The items of the smallest narrowing the filter offers (see narrowing);
   * `undefined` when it offers none. `byId` answers `id` conditions from the
   * caller's primary map.
   */
  narrow(filter: Filter, byId: (ids: string[]) => T[]): Candidates<T> | undefined {
    const narrowing = this.narrowing(filter, byId);
    if (!narrowing) return undefined;
    const items: T[] = [];
    for (const ordinal of narrowing.items()) items.push(this.items[ordinal]!);
    return { items, exact: narrowing.exact === true };
  }

  /**
   * From equality conditions ($eq, $in, bare values, $elemMatch fields) at
   * the filter's top level or inside top-level $and, and from $or when every
   * branch narrows: the smallest of them, intersected with the others.
   */
  private narrowing(filter: Filter, byId: (ids: string[]) => T[]): Narrowing | undefined {
    const options: Narrowing[] = [];
    const exact = this.collect(filter, byId, options);
    if (options.length === 0) return undefined;
    options.sort((a, b) => a.size - b.size);
    const [smallest, ...others] = options as [Narrowing, ...Narrowing[]];
    // Always the filter's own answer: a lone narrowing (a union, say) may say more than the filter does.
    if (others.length === 0) return smallest.exact === exact ? smallest : { ...smallest, exact };
    // Intersect: cheap membership tests against the others spare mingo calls.
    const kept: number[] = [];
    candidates: for (const ordinal of smallest.items()) {
      for (const other of others) if (!other.has(ordinal)) continue candidates;
      kept.push(ordinal);
    }
    return { ...distinctListNarrowing(kept), exact };
  }

  /** Adds the narrowings the filter offers to `out`; true when they say all the filter says (see Narrowing.exact). */
  private collect(filter: Filter, byId: (ids: string[]) => T[], out: Narrowing[]): boolean {
    let exact = true;
    for (const [key, cond] of Object.entries(filter)) {
      if (key === '$and' && Array.isArray(cond)) {
        for (const sub of cond) {
          if (!isPlainObject(sub) || !this.collect(sub, byId, out)) exact = false;
        }
      } else if (key === '$or' && Array.isArray(cond) && cond.length > 0) {
        const branches: Narrowing[] = [];
        for (const sub of cond) {
          const branch = isPlainObject(sub) ? this.narrowing(sub, byId) : undefined;
          if (!branch) {
            branches.length = 0;
            break;
          }
          branches.push(branch);
        }
        if (branches.length > 0) out.push(unionNarrowing(branches));
        if (branches.length === 0 || !branches.every((b) => b.exact)) exact = false;
      } else if (key === 'id') {
        const ids = equalityValues(cond);
        if (ids) out.push(distinctListNarrowing([...new Set(byId(ids).map((item) => item.ordinal).filter((n) => n >= 0))]));
        if (!ids || !isOnlyEquality(cond)) exact = false;
      } else if (key === 'comp') {
        const values = equalityValues(cond);
        if (values) out.push(postingsNarrowing(this.comp, values));
        if (!values || !isOnlyEquality(cond)) exact = false;
      } else if (key.startsWith('idx.')) {
        const dot = key.indexOf('.', 4);
        if (dot === -1) {
          // { 'idx.code': { $elemMatch: { sc: 'x', ... } } }: any equality field narrows; only a lone
          // field is exact (several must hold on the same element, which postings do not know).
          if (!isPlainObject(cond) || !isPlainObject(cond.$elemMatch)) {
            exact = false;
            continue;
          }
          const fields = Object.entries(cond.$elemMatch);
          if (fields.length !== 1 || Object.keys(cond).length !== 1) exact = false;
          for (const [field, sub] of fields) {
            const values = isIndexedField(field) ? equalityValues(sub) : undefined;
            if (values) out.push(postingsNarrowing(this.byParam.get(key.slice(4))?.get(field), values));
            if (!values || !isOnlyEquality(sub)) exact = false;
          }
        } else {
          const field = key.slice(dot + 1);
          const values = isIndexedField(field) ? equalityValues(cond) : undefined;
          if (values) out.push(postingsNarrowing(this.byParam.get(key.slice(4, dot))?.get(field), values));
          if (!values || !isOnlyEquality(cond)) exact = false;
        }
      } else {
        exact = false;
      }
    }
    return exact;
  }

  /** Calls `fn` with the value map and value of every indexed string; `create` makes missing maps. */
  private visit(record: VersionRecord, create: boolean, fn: (values: Map<string, Posting>, value: string) => void): void {
    for (const c of record.comp) fn(this.comp, c);
    const idx = record.idx;
    for (const param in idx) {
      let fields = this.byParam.get(param);
      for (const value of idx[param]!) {
        if (!isPlainObject(value)) continue;
        for (const field of INDEXED_FIELDS) {
          const v = (value as Record<string, unknown>)[field];
          if (v === undefined) continue;
          if (!fields) {
            if (!create) break;
            this.byParam.set(param, (fields = new Map()));
          }
          let values = fields.get(field);
          if (!values) {
            if (!create) continue;
            fields.set(field, (values = new Map()));
          }
          if (typeof v === 'string') fn(values, v);
          else if (Array.isArray(v)) for (const e of v) if (typeof e === 'string') fn(values, e);
        }
      }
    }
  }
}

function isIndexedField(field: string): boolean {
  return (INDEXED_FIELDS as readonly string[]).includes(field);
}

function postingsNarrowing(map: Map<string, Posting> | undefined, values: string[]): Narrowing {
  const postings: Posting[] = [];
  for (const value of new Set(values)) {
    const posting = map?.get(value);
    if (posting !== undefined) postings.push(posting);
  }
  return postingNarrowing(postings);
}

/** The strings a condition requires equality with, or undefined when it is anything else. */
function equalityValues(cond: unknown): string[] | undefined {
  if (typeof cond === 'string') return [cond];
  if (!isPlainObject(cond)) return undefined;
  if (typeof cond.$eq === 'string') return [cond.$eq];
  if (Array.isArray(cond.$in) && cond.$in.every((v) => typeof v === 'string')) return cond.$in as string[];
  return undefined;
}

/** An equality condition with nothing beside it ({ $eq, $ne } narrows by $eq but says more). */
function isOnlyEquality(cond: unknown): boolean {
  return typeof cond === 'string' || (isPlainObject(cond) && Object.keys(cond).length === 1);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RegExp);
}

function postingNarrowing(postings: Posting[]): Narrowing {
  // One value (the usual case): the posting itself, with no generator or closure per candidate.
  if (postings.length === 0) return { size: 0, has: () => false, items: () => [] };
  if (postings.length === 1) {
    const only = postings[0]!;
    if (typeof only !== 'number') return { size: only.size, has: (ordinal) => only.has(ordinal), items: () => only };
    return { size: 1, has: (ordinal) => ordinal === only, items: () => [only] };
  }
  let size = 0;
  for (const p of postings) size += typeof p !== 'number' ? p.size : 1;
  return {
    size,
    has: (ordinal) => postings.some((p) => (typeof p !== 'number' ? p.has(ordinal) : p === ordinal)),
    *items() {
      const seen = new Set<number>();
      for (const p of postings) {
        for (const ordinal of typeof p !== 'number' ? p : [p]) {
          if (seen.has(ordinal)) continue;
          seen.add(ordinal);
          yield ordinal;
        }
      }
    },
  };
}

/** A narrowing over ordinals known to be distinct; its set is built only if a membership test asks for it. */
function distinctListNarrowing(ordinals: number[]): Narrowing {
  let set: Set<number> | undefined;
  return { size: ordinals.length, has: (ordinal) => (set ??= new Set(ordinals)).has(ordinal), items: () => ordinals };
}

function unionNarrowing(parts: Narrowing[]): Narrowing {
  return {
    size: parts.reduce((n, p) => n + p.size, 0),
    has: (ordinal) => parts.some((p) => p.has(ordinal)),
    *items() {
      const seen = new Set<number>();
      for (const p of parts) {
        for (const ordinal of p.items()) {
          if (seen.has(ordinal)) continue;
          seen.add(ordinal);
          yield ordinal;
        }
      }
    },
  };
}
