import { BadRequestError, FhirError } from '../errors.js';
import { decodeCursor, encodeCursor, querySignature } from '../fhir/search/cursor.js';
import type { CursorState } from '../fhir/search/cursor.js';
import type { ReferenceIndex } from '../fhir/search/index-types.js';
import { getSearchParam, indexedSearchParams, listResourceTypes } from '../fhir/search/params.js';
import type { IncludeRule, ResolvedClause, SearchClause, SearchRequest } from '../fhir/search/request.js';
import type { Filter, SortSpec, StoreEngine, VersionRecord } from './engine.js';
import { andOf, compileFilter, MATCH_NOTHING, orOf } from './filter.js';

export interface SearchResult {
  matches: VersionRecord[];
  /** `_include` / `_revinclude` results (search mode `include`). */
  included: VersionRecord[];
  /** The includes stopped at INCLUDE_LIMIT with more to add: `included` is not all they name. */
  includesIncomplete?: boolean;
  total?: number;
  /** Opaque tokens for `_cursor=` in the next / previous links. */
  next?: string;
  previous?: string;
}

export interface ExecuteOptions {
  /**
   * The access policy's hook: a filter AND'ed into every query on `type`
   * (matches, chains, `_has`, includes, counts); null hides the type entirely.
   */
  restrict?: (type: string) => Filter | null;
}

/** Most resources a chain or `_has` sub-query may select before the search is refused as too costly. */
export const SUBQUERY_LIMIT = 10_000;
/**
 * Most resources `_include` and `_revinclude` add to one page, every rule and
 * `:iterate` round together (HAPI FHIR's default maximumIncludesToLoadPerPage
 * too); past it the page says it is incomplete (SearchResult.includesIncomplete).
 */
export const INCLUDE_LIMIT = 1_000;

/**
 * Runs a parsed search on an engine: resolves chains and `_has` as
 * sub-queries, pages by keyset (sort values plus (type, id) tie-breakers,
 * stable while data changes), counts when asked, and adds includes. Every
 * query goes through `restrict`.
 */
export async function executeSearch(engine: StoreEngine, request: SearchRequest, options: ExecuteOptions = {}): Promise<SearchResult> {
  const scope = new Scope(engine, options.restrict);
  const visible = scope.visibleTypes(request.types);
  if (visible.length === 0) return { matches: [], included: [], ...(wantsTotal(request) ? { total: 0 } : {}) };

  const clauses = await Promise.all(request.clauses.map((c) => resolveClause(scope, request.types, c)));
  const base = andOf([compileFilter({ clauses }), scope.typeFilter(visible)]);
  // No type list means every type: only when the policy hides none (the type filter may be `{}`
  // once the visible types are the engine's to select).
  const findTypes = request.types.length || visible.length < listResourceTypes().length ? visible : [];

  if (request.summary === 'count' || request.count === 0) {
    return { matches: [], included: [], total: await engine.count({ types: findTypes, filter: base }) };
  }

  const sort = sortSpec(request);
  const sig = querySignature(request);
  const cursor = request.cursor ? decodeCursor(request.cursor) : undefined;
  if (cursor && cursor.sig !== sig) {
    throw new BadRequestError('FHIR_ERR_SEARCH_CURSOR', '_cursor belongs to another search (other types, criteria or _sort): use the links of this search\'s pages', { expression: ['_cursor'] });
  }

  // A previous page reads backwards from its cursor: the mirror of the forward order, then turned round.
  const backwards = cursor?.dir === 'prev';
  const filter = cursor ? andOf([base, afterFilter(sort, cursor, backwards)]) : base;
  const found = await engine.find({ types: findTypes, filter, sort, reverse: backwards, limit: request.count + 1 });
  const hasMore = found.length > request.count;
  const page = found.slice(0, request.count);
  if (backwards) page.reverse();

  const result: SearchResult = { matches: page, included: [] };
  if (page.length > 0) {
    const first = page[0]!;
    const last = page[page.length - 1]!;
    // Going forward there is a next page when we saw one more; a previous one when we came from a cursor.
    const hasNext = backwards ? true : hasMore;
    const hasPrev = backwards ? hasMore : cursor !== undefined;
    if (hasNext) result.next = encodeCursor(position(last, sort, 'next', sig));
    if (hasPrev) result.previous = encodeCursor(position(first, sort, 'prev', sig));
  }

  if (request.total === 'accurate' || request.total === 'estimate') {
    result.total = await engine.count({ types: findTypes, filter: base });
  } else if (request.total === undefined && !cursor && !hasMore) {
    // Cheap and exact: the whole result fits on this first page.
    result.total = page.length;
  }

  if (request.include.length || request.revinclude.length) {
    const inclusion = await addIncludes(scope, request, page);
    result.included = inclusion.records;
    if (inclusion.incomplete) result.includesIncomplete = true;
  }
  return result;
}

function wantsTotal(request: SearchRequest): boolean {
  return request.summary === 'count' || request.count === 0 || request.total === 'accurate' || request.total === 'estimate' || request.total === undefined;
}

const OPEN: Filter = Object.freeze({}) as Filter;

/** Types visible to the caller, and the policy filters per type. */
class Scope {
  private readonly filters = new Map<string, Filter | null>();
  constructor(readonly engine: StoreEngine, private readonly restrict?: (type: string) => Filter | null) {}

  filterFor(type: string): Filter | null {
    if (!this.restrict) return {};
    if (!this.filters.has(type)) this.filters.set(type, this.restrict(type));
    return this.filters.get(type)!;
  }

  visibleTypes(types: string[]): string[] {
    const all = types.length ? types : listResourceTypes();
    if (!this.restrict) return all;
    return all.filter((t) => this.filterFor(t) !== null);
  }

  /**
   * `{}` when no policy filter applies, else an OR of `{type in [...], ...policy}`
   * with one branch per distinct policy filter (the same object for most types:
   * a professional's list of patients is written once, not once per type,
   * which on MongoDB kept a search over every type under its 16 MiB command).
   */
  typeFilter(types: string[]): Filter {
    if (!this.restrict) return {};
    const groups = new Map<Filter, string[]>();
    let allOpen = true;
    for (const type of types) {
      let f = this.filterFor(type) ?? MATCH_NOTHING;
      // Every open type in one group, whichever `{}` object its filter is.
      if (Object.keys(f).length) allOpen = false;
      else f = OPEN;
      const group = groups.get(f);
      if (group) group.push(type);
      else groups.set(f, [type]);
    }
    if (allOpen) return {};
    return orOf([...groups].map(([f, group]) => andOf([{ type: group.length === 1 ? group[0] : { $in: group } }, f])));
  }

  async find(types: string[], filter: Filter, limit: number): Promise<VersionRecord[]> {
    const visible = this.visibleTypes(types);
    if (visible.length === 0) return [];
    return this.engine.find({ types: visible, filter: andOf([filter, this.typeFilter(visible)]), sort: [['type', 1], ['id', 1]], limit });
  }
}

async function resolveClause(scope: Scope, types: string[], clause: SearchClause): Promise<SearchClause> {
  if (clause.kind === 'chain') {
    const next = await resolveClause(scope, clause.targets, clause.next);
    const found = await scope.find(clause.targets, compileFilter({ clauses: [next] }), SUBQUERY_LIMIT + 1);
    tooCostly(found, clause.name);
    return resolved(clause.name, clause.raw, clause.code, found.map((r) => `${r.type}/${r.id}`));
  }
  if (clause.kind === 'has') {
    const next = await resolveClause(scope, [clause.type], clause.next);
    const found = await scope.find([clause.type], compileFilter({ clauses: [next] }), SUBQUERY_LIMIT + 1);
    tooCostly(found, clause.name);
    const ids = new Set<string>();
    for (const r of found) {
      for (const v of (r.idx[clause.ref] ?? []) as ReferenceIndex[]) {
        if (v.r && v.i && v.t && (types.length === 0 || types.includes(v.t) || types[0] === 'Resource')) ids.add(v.i);
      }
    }
    return resolved(clause.name, clause.raw, '_id', [...ids]);
  }
  return clause;
}

function resolved(name: string, raw: string, code: string, values: string[]): ResolvedClause {
  return { kind: 'resolved', name, raw, code, values };
}

function tooCostly(found: VersionRecord[], name: string): void {
  if (found.length > SUBQUERY_LIMIT) {
    throw new FhirError('FHIR_ERR_SEARCH_TOO_COSTLY', 400, 'too-costly', `${name} selects more than ${SUBQUERY_LIMIT} resources; narrow it down`, { expression: [name] });
  }
}

/** Record fields of the requested sort, ending with the (type, id) tie-breakers. */
export function sortSpec(request: Pick<SearchRequest, 'sort'>): SortSpec {
  const spec: SortSpec = [];
  for (const rule of request.sort) {
    const dir = rule.descending ? -1 : 1;
    if (rule.code === '_id') spec.push(['id', dir]);
    else if (rule.code === '_lastUpdated') spec.push(['ts', dir]);
    else {
      // Descending sorts on a value's upper bound, ascending on its lower one; ties (every ongoing
      // Period ends at +infinity) go by the other bound, in the same direction.
      const [first, second] = rule.descending ? [`-${rule.code}`, rule.code] : [rule.code, `-${rule.code}`];
      spec.push([`srt.${first}`, dir], [`srt.${second}`, dir]);
    }
  }
  if (!spec.some(([f]) => f === 'type')) spec.push(['type', 1]);
  if (!spec.some(([f]) => f === 'id')) spec.push(['id', 1]);
  return spec;
}

function fieldValue(record: VersionRecord, field: string): string | number | null {
  if (field === 'id') return record.id;
  if (field === 'type') return record.type;
  if (field === 'ts') return record.ts;
  if (field.startsWith('srt.')) return record.srt[field.slice(4)] ?? null;
  return null;
}

function position(record: VersionRecord, sort: SortSpec, dir: CursorState['dir'], sig: string): CursorState {
  return { dir, keys: sort.map(([f]) => fieldValue(record, f)), type: record.type, id: record.id, sig };
}

/**
 * Records strictly after (or, reading backwards, before) a position in `sort`
 * order. A missing sort value counts as the greatest in both directions: the
 * order in which the engines put records lacking the parameter last.
 */
function afterFilter(sort: SortSpec, cursor: CursorState, backwards: boolean): Filter {
  const branches: Filter[] = [];
  const equalSoFar: Filter[] = [];
  sort.forEach(([field, dir], i) => {
    const v = cursor.keys[i] ?? null;
    const after = backwards ? beforeCondition(field, dir, v) : afterCondition(field, dir, v);
    if (after) branches.push(andOf([...equalSoFar, after]));
    equalSoFar.push(v === null ? { [field]: { $exists: false } } : { [field]: v });
  });
  return orOf(branches);
}

/** Records whose `field` comes after v in direction dir (missing last). */
function afterCondition(field: string, dir: 1 | -1, v: string | number | null): Filter | undefined {
  if (v === null) return undefined;
  return { $or: [{ [field]: { [dir === 1 ? '$gt' : '$lt']: v } }, { [field]: { $exists: false } }] };
}

/** Records whose `field` comes before v in direction dir (missing last). */
function beforeCondition(field: string, dir: 1 | -1, v: string | number | null): Filter | undefined {
  if (v === null) return { [field]: { $exists: true } };
  return { [field]: { [dir === 1 ? '$lt' : '$gt']: v } };
}

/**
 * `_include` and `_revinclude` (search.html#revinclude): every rule over the
 * page's matches, then the `:iterate` ones over what the round before added,
 * until a round adds nothing (a resource is added once, so a cycle ends) or
 * INCLUDE_LIMIT resources are in. Only what `scope` lets the caller see is
 * found, and so only that takes room or makes the page incomplete.
 */
async function addIncludes(scope: Scope, request: SearchRequest, page: VersionRecord[]): Promise<Inclusion> {
  const inclusion = new Inclusion(page, INCLUDE_LIMIT);
  const iterates = request.include.some((r) => r.iterate) || request.revinclude.some((r) => r.iterate);
  let frontier = page;
  for (let round = 0; frontier.length > 0 && !inclusion.incomplete; round++) {
    const applies = (r: IncludeRule) => round === 0 || r.iterate;
    const added: VersionRecord[] = [];
    for (const rule of request.include.filter(applies)) added.push(...(await forwardInclude(scope, rule, frontier, inclusion)));
    for (const rule of request.revinclude.filter(applies)) added.push(...(await reverseInclude(scope, rule, frontier, inclusion)));
    frontier = iterates ? added : [];
  }
  return inclusion;
}

/** What a page's includes added so far: each resource once (none of the matches), at most `limit`. */
class Inclusion {
  readonly records: VersionRecord[] = [];
  /** Set once a resource to add was left out for want of room. */
  incomplete = false;
  private readonly seen: Set<string>;

  constructor(page: VersionRecord[], private readonly limit: number) {
    this.seen = new Set(page.map(key));
  }

  /** Whether `Type/id` is a match or added already. */
  has(reference: string): boolean {
    return this.seen.has(reference);
  }

  /** How many new records to look for: the room left, and one more to tell whether any would be left out. */
  get wanted(): number {
    return this.limit - this.records.length + 1;
  }

  /** Adds the records of `found` that are new while there is room; returns those added. */
  add(found: VersionRecord[]): VersionRecord[] {
    const added: VersionRecord[] = [];
    for (const r of found) {
      if (this.seen.has(key(r))) continue;
      if (this.records.length >= this.limit) {
        this.incomplete = true;
        break;
      }
      this.seen.add(key(r));
      this.records.push(r);
      added.push(r);
    }
    return added;
  }
}

function key(r: VersionRecord): string {
  return `${r.type}/${r.id}`;
}

async function forwardInclude(scope: Scope, rule: IncludeRule, sources: VersionRecord[], inclusion: Inclusion): Promise<VersionRecord[]> {
  const wanted = new Map<string, Set<string>>();
  for (const rec of sources) {
    if (rule.type !== '*' && rec.type !== rule.type) continue;
    const codes = rule.code === '*' ? indexedSearchParams(rec.type).filter((d) => d.type === 'reference').map((d) => d.code) : [rule.code];
    for (const code of codes) {
      for (const v of (rec.idx[code] ?? []) as ReferenceIndex[]) {
        if (!v.r || !v.t || !v.i || v.r.includes(':')) continue;
        if (rule.target && v.t !== rule.target) continue;
        if (inclusion.has(v.r)) continue;
        let ids = wanted.get(v.t);
        if (!ids) wanted.set(v.t, (ids = new Set()));
        ids.add(v.i);
      }
    }
  }
  const out: VersionRecord[] = [];
  for (const [type, ids] of wanted) {
    if (inclusion.incomplete) break;
    out.push(...inclusion.add(await scope.find([type], { id: { $in: [...ids] } }, Math.min(ids.size, inclusion.wanted))));
  }
  return out;
}

async function reverseInclude(scope: Scope, rule: IncludeRule, targets: VersionRecord[], inclusion: Inclusion): Promise<VersionRecord[]> {
  if (targets.length === 0 || inclusion.incomplete) return [];
  const refs = targets.filter((t) => !rule.target || t.type === rule.target).map(key);
  if (refs.length === 0) return [];
  // `_revinclude=*`: whatever refers to the targets, from any type, by any reference parameter that may name them.
  const targetTypes = [...new Set(targets.map((t) => t.type))].sort();
  const types = rule.type === '*' ? typesReferring(targetTypes) : [rule.type];
  const codes = rule.type === '*' ? [...new Set(types.flatMap((type) => referenceCodes(type, targetTypes)))].sort()
    : rule.code === '*' ? referenceCodes(rule.type, targetTypes)
      : getSearchParam(rule.type, rule.code) ? [rule.code] : [];
  if (codes.length === 0 || types.length === 0) return [];
  const filter = orOf(codes.map((code) => ({ [`idx.${code}.r`]: { $in: refs } })));
  return inclusion.add(await findNew(scope, types, filter, inclusion));
}

/**
 * Up to `inclusion.wanted` records matching `filter` that `inclusion` does not
 * hold yet, in (type, id) order. Those it holds (matches referring to one
 * another, what an earlier rule added) are read past, batch after batch, so
 * that they neither take the room of new ones nor hide whether any are left.
 */
async function findNew(scope: Scope, types: string[], filter: Filter, inclusion: Inclusion): Promise<VersionRecord[]> {
  const wanted = inclusion.wanted;
  const found: VersionRecord[] = [];
  let after: Filter | undefined;
  for (;;) {
    const batch = await scope.find(types, after ? andOf([filter, after]) : filter, INCLUDE_LIMIT);
    for (const r of batch) if (found.length < wanted && !inclusion.has(key(r))) found.push(r);
    if (found.length >= wanted || batch.length < INCLUDE_LIMIT) return found;
    const last = batch[batch.length - 1]!;
    after = { $or: [{ type: { $gt: last.type } }, { type: last.type, id: { $gt: last.id } }] };
  }
}

/** A type's reference parameters, or (given `targetTypes`) those that may name a resource of one of them. */
function referenceCodes(type: string, targetTypes?: string[]): string[] {
  return indexedSearchParams(type)
    .filter((d) => d.type === 'reference' && (!targetTypes || d.targets.length === 0 || d.targets.some((t) => targetTypes.includes(t))))
    .map((d) => d.code);
}

const referringTypes = new Map<string, string[]>();

/**
 * The types with a reference parameter that may name one of `targetTypes`:
 * `_revinclude=*` asks only those, with only those parameters. Asking every
 * type with every reference code made each `:iterate` round cost tens of
 * milliseconds, each type's index walking codes it does not have.
 */
function typesReferring(targetTypes: string[]): string[] {
  const cacheKey = targetTypes.join(',');
  let types = referringTypes.get(cacheKey);
  if (!types) {
    types = listResourceTypes().filter((type) => referenceCodes(type, targetTypes).length > 0);
    // Pages of many types at once make many keys: a bounded cache, as they are cheap to compute again.
    if (referringTypes.size >= 256) referringTypes.clear();
    referringTypes.set(cacheKey, types);
  }
  return types;
}

/**
 * The canonical parameters of a search, for its `self`, `next` and `previous`
 * links (the page token excluded): following one must run the same query.
 * `pathTypes` are the types the link's path names (none at the system level or
 * for a compartment's `*`); `_type` is written when the searched types differ
 * from them, or a next page at `[base]?_type=Patient` would search every type.
 */
export function formatSearchQuery(request: SearchRequest, pathTypes: string[] = request.types): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!sameTypes(request.types, pathTypes)) out.push(['_type', request.types.join(',')]);
  for (const c of request.clauses) out.push([c.name, c.raw]);
  if (request.sort.length) out.push(['_sort', request.sort.map((r) => (r.descending ? `-${r.code}` : r.code)).join(',')]);
  out.push(['_count', String(request.count)]);
  if (request.total) out.push(['_total', request.total]);
  if (request.summary) out.push(['_summary', request.summary]);
  if (request.elements?.length) out.push(['_elements', request.elements.join(',')]);
  for (const r of request.include) out.push([r.iterate ? '_include:iterate' : '_include', r.raw]);
  for (const r of request.revinclude) out.push([r.iterate ? '_revinclude:iterate' : '_revinclude', r.raw]);
  return out;
}

function sameTypes(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((t) => b.includes(t));
}
