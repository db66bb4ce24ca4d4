import { escapeRegex } from '../fhir/search/normalize.js';
import type {
  CompositeValue, DateValue, NumberValue, ParamClause, ParsedValue, QuantityValue, SearchClause, SearchRequest,
} from '../fhir/search/request.js';
import type { Filter } from './engine.js';

/**
 * The one query language of both engines: a search compiles to a MongoDB
 * filter document over VersionRecord fields (`id`, `ts`, `idx.<code>.<field>`,
 * `comp`), using only operators that both MongoDB and mingo run ($and $or $in
 * $nin $elemMatch $gt $gte $lt $lte $eq $ne $exists $regex $not).
 *
 * Shapes are chosen for index use: a single equality goes on the dotted path
 * (`idx.code.sc`), several on one field become `$in`, anything tying fields of
 * one value together is an `$elemMatch`.
 *
 * Chains and `_has` must have been resolved by the executor (ResolvedClause).
 */
export function compileFilter(request: Pick<SearchRequest, 'clauses'>): Filter {
  return andOf(request.clauses.map(compileClause));
}

/** Matches no record (an `$in` of nothing). */
export const MATCH_NOTHING: Filter = Object.freeze({ id: { $in: [] } }) as Filter;

export function andOf(filters: Filter[]): Filter {
  const parts = filters.filter((f) => Object.keys(f).length > 0);
  if (parts.length === 0) return {};
  if (parts.length === 1) return parts[0]!;
  return { $and: parts };
}

export function orOf(filters: Filter[]): Filter {
  if (filters.length === 0) return MATCH_NOTHING;
  if (filters.length === 1) return filters[0]!;
  return { $or: filters };
}

export function compileClause(clause: SearchClause): Filter {
  switch (clause.kind) {
    case 'param': return compileParam(clause);
    case 'resolved':
      if (clause.values.length === 0) return MATCH_NOTHING;
      return clause.code === '_id' ? { id: { $in: clause.values } } : { [`idx.${clause.code}.r`]: { $in: clause.values } };
    default:
      throw new Error(`search clause ${clause.name} must be resolved before compiling`);
  }
}

/** Conditions on the fields of one index value; an array is a set of alternatives. */
type Elem = Record<string, unknown>;

function compileParam(clause: ParamClause): Filter {
  const path = `idx.${clause.code}`;
  if (clause.code === '_id') {
    const ids = clause.values.map((v) => (v as { code: string }).code);
    if (clause.modifier === 'not') return { id: { $nin: ids } };
    return ids.length === 1 ? { id: ids[0] } : { id: { $in: ids } };
  }
  if (clause.code === '_lastUpdated') return orOf(clause.values.map((v) => pointCondition('ts', v as DateValue)));
  if (clause.missing !== undefined) return { [path]: { $exists: !clause.missing } };

  const negate = clause.modifier === 'not' || clause.modifier === 'not-in';
  const alternatives: Elem[] = [];
  const negatives: Elem[] = [];
  for (const v of clause.values) {
    if (v.kind === 'date' && v.prefix === 'ne') {
      negatives.push(...elementConditions({ ...v, prefix: 'eq' } as ParsedValue, clause));
    } else {
      alternatives.push(...elementConditions(v, clause));
    }
  }
  if (negate) {
    // :not / :not-in: no value of the resource matches any of the alternatives (absent values included).
    return andOf(alternatives.map((e) => notElem(path, e)));
  }
  const parts: Filter[] = [];
  if (alternatives.length) parts.push(positive(path, alternatives));
  for (const e of negatives) parts.push(andOf([{ [path]: { $exists: true } }, notElem(path, e)]));
  return orOf(parts);
}

function notElem(path: string, e: Elem): Filter {
  const keys = Object.keys(e);
  if (keys.length === 1 && isEquality(e[keys[0]!])) return { [`${path}.${keys[0]}`]: { $nin: [e[keys[0]!]] } };
  return { [path]: { $not: { $elemMatch: e } } };
}

/**
 * On arrays, `{'a.n': {$gte: 1, $lt: 2}}` may be satisfied by two different
 * elements; only a single operator is safe outside `$elemMatch`.
 */
function isSingleCondition(v: unknown): boolean {
  return v !== null && typeof v === 'object' && Object.keys(v).length === 1;
}

function isEquality(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** OR of element conditions, grouped into `$in` on one field where they allow it. */
function positive(path: string, alternatives: Elem[]): Filter {
  const byField = new Map<string, unknown[]>();
  const rest: Filter[] = [];
  for (const e of alternatives) {
    const keys = Object.keys(e);
    if (keys.length === 1 && isEquality(e[keys[0]!])) {
      const list = byField.get(keys[0]!) ?? [];
      list.push(e[keys[0]!]);
      byField.set(keys[0]!, list);
    } else if (keys.length === 1 && !keys[0]!.startsWith('$') && isSingleCondition(e[keys[0]!]) && !('$not' in (e[keys[0]!] as object))) {
      // One condition on one field: the dotted path matches the same elements and keeps index use.
      rest.push({ [`${path}.${keys[0]}`]: e[keys[0]!] });
    } else {
      rest.push({ [path]: { $elemMatch: e } });
    }
  }
  const parts: Filter[] = [];
  for (const [field, values] of byField) {
    parts.push({ [`${path}.${field}`]: values.length === 1 ? values[0] : { $in: [...new Set(values)] } });
  }
  return orOf([...parts, ...rest]);
}

function elementConditions(v: ParsedValue, clause: ParamClause): Elem[] {
  switch (v.kind) {
    case 'token':
      if (v.system === undefined) return v.code === undefined ? [] : [{ c: v.code }];
      if (v.system === null) return [{ c: v.code, s: { $exists: false } }];
      return v.code === undefined ? [{ s: v.system }] : [{ sc: `${v.system}|${v.code}` }];
    case 'token-text':
      return [{ t: { $regex: `^${escapeRegex(v.text)}` } }];
    case 'token-set': {
      const out: Elem[] = v.codes.map((sc) => ({ sc }));
      for (const s of v.systems) out.push({ s });
      // A `code` element (status, gender) carries no system: its system is the bound one.
      const bare = [...new Set(v.codes.map((sc) => sc.slice(sc.lastIndexOf('|') + 1)))];
      if (bare.length) out.push({ c: { $in: bare }, s: { $exists: false } });
      return out.length ? out : [{ sc: { $in: [] } }];
    }
    case 'of-type':
      return [{ ty: v.type, c: v.value }];
    case 'reference':
      if (v.id !== undefined) return [{ i: v.id }];
      return v.version ? [{ r: v.ref, v: v.version }] : [{ r: v.ref }];
    case 'reference-identifier': {
      const e: Elem = {};
      if (v.value !== undefined) e.c = v.value;
      if (v.system === null) e.s = { $exists: false };
      else if (v.system !== undefined) e.s = v.system;
      return [e];
    }
    case 'string':
      if (clause.modifier === 'exact') return [{ x: v.exact }];
      if (clause.modifier === 'contains') return [{ f: { $regex: escapeRegex(v.folded) } }];
      return [{ f: { $regex: `^${escapeRegex(v.folded)}` } }];
    case 'uri':
      if (clause.modifier === 'below') return [{ u: { $regex: `^${escapeRegex(v.uri)}` } }];
      if (clause.modifier === 'above') return [{ u: { $in: uriAncestors(v.uri) } }];
      return [{ u: v.uri }];
    case 'date':
      return dateConditions(v);
    case 'number':
      return numberConditions(v);
    case 'quantity':
      return quantityConditions(v);
    case 'composite':
      return compositeConditions(v, clause);
  }
}

/** A URL and every path above it (`:above`): http://x/a/b -> http://x/a/b, http://x/a, http://x. */
function uriAncestors(uri: string): string[] {
  const out = [uri];
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/]+)(\/.*)?$/i.exec(uri);
  if (!m) return out;
  const segments = (m[2] ?? '').split('/').filter(Boolean);
  for (let i = segments.length - 1; i >= 0; i--) out.push(m[1] + (i ? '/' + segments.slice(0, i).join('/') : ''));
  return out;
}

/**
 * Range semantics of search.html#prefix: the index value [lo, hi] against the
 * search range [qlo, qhi].
 */
function dateConditions(v: DateValue): Elem[] {
  const { lo, hi } = v;
  switch (v.prefix) {
    case 'eq': case 'ne': return [{ lo: { $gte: lo }, hi: { $lte: hi } }];
    case 'gt': return [{ hi: { $gt: hi } }];
    case 'lt': return [{ lo: { $lt: lo } }];
    case 'ge': return [{ hi: { $gt: hi } }, { lo: { $gte: lo }, hi: { $lte: hi } }];
    case 'le': return [{ lo: { $lt: lo } }, { lo: { $gte: lo }, hi: { $lte: hi } }];
    case 'sa': return [{ lo: { $gt: hi } }];
    case 'eb': return [{ hi: { $lt: lo } }];
    case 'ap': return [{ lo: { $lte: hi }, hi: { $gte: lo } }];
  }
}

/** `_lastUpdated` is one instant (the record's `ts`), not a range. */
function pointCondition(field: string, v: DateValue): Filter {
  switch (v.prefix) {
    case 'eq': case 'ap': return { [field]: { $gte: v.lo, $lte: v.hi } };
    case 'ne': return { $or: [{ [field]: { $lt: v.lo } }, { [field]: { $gt: v.hi } }] };
    case 'gt': case 'sa': return { [field]: { $gt: v.hi } };
    case 'lt': case 'eb': return { [field]: { $lt: v.lo } };
    case 'ge': return { [field]: { $gte: v.lo } };
    case 'le': return { [field]: { $lte: v.hi } };
  }
}

function numberConditions(v: NumberValue | QuantityValue): Elem[] {
  switch (v.prefix) {
    case 'eq': return [{ n: { $gte: v.lo, $lt: v.hi } }];
    // A value (with the unit asked for, for quantities) outside the precision range.
    case 'ne': return [{ n: { $not: { $gte: v.lo, $lt: v.hi } } }];
    case 'ap': return [{ n: { $gte: v.lo, $lte: v.hi } }];
    case 'gt': case 'sa': return [{ n: { $gt: v.n } }];
    case 'lt': case 'eb': return [{ n: { $lt: v.n } }];
    case 'ge': return [{ n: { $gte: v.n } }];
    case 'le': return [{ n: { $lte: v.n } }];
  }
}

function quantityConditions(v: QuantityValue): Elem[] {
  const base = numberConditions(v);
  if (v.system) return base.map((e) => ({ ...e, s: v.system, ...(v.code ? { c: v.code } : {}) }));
  // `5.4||mg`: without a system the unit may be the code or the displayed unit.
  if (v.code) return base.flatMap((e) => [{ ...e, c: v.code }, { ...e, u: v.code }]);
  return base;
}

function compositeConditions(v: CompositeValue, clause: ParamClause): Elem[] {
  let combos: Elem[] = [{}];
  v.parts.forEach((part, i) => {
    const inner: ParamClause = { ...clause, modifier: undefined };
    const conds = elementConditions(part, inner);
    const next: Elem[] = [];
    for (const combo of combos) for (const c of conds) next.push({ ...combo, [`c${i}`]: { $elemMatch: c } });
    combos = next;
  });
  return combos;
}
