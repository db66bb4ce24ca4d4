import { BadRequestError } from '../../errors.js';
import { isFhirId } from '../references.js';
import { normalizeReference } from './extract.js';
import { dateRange, foldString, numberRange } from './normalize.js';
import { getSearchParam, isResourceType, listResourceTypes } from './params.js';
import type { SearchParamDef, SearchParamType } from './params.js';
import type {
  IncludeRule, ParamClause, ParsedValue, Prefix, SearchClause, SearchRequest, SortRule, SummaryMode, TotalMode,
} from './request.js';
import { expandValueSet } from './value-sets.js';

export type * from './request.js';

export interface ParseOptions {
  /** `Prefer: handling=strict`: unknown parameters are an error rather than ignored. */
  strict: boolean;
  defaultCount: number;
  maxCount: number;
  /** The server's FHIR base, so that `<base>/Patient/1` reads as `Patient/1`. */
  baseUrl?: string;
  /** Clock for `ap` tolerances (tests pin it). */
  now?: number;
}

const PREFIXES = new Set<Prefix>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

/** Modifiers each parameter type accepts (`:missing` everywhere; `:[type]` on references is handled apart). */
const MODIFIERS: Record<SearchParamType, ReadonlySet<string>> = {
  string: new Set(['missing', 'exact', 'contains']),
  token: new Set(['missing', 'not', 'text', 'in', 'not-in', 'of-type']),
  reference: new Set(['missing', 'identifier']),
  date: new Set(['missing']),
  number: new Set(['missing']),
  quantity: new Set(['missing']),
  uri: new Set(['missing', 'above', 'below']),
  composite: new Set(['missing']),
  special: new Set(),
};

/** Parameters that shape the answer rather than select resources. */
const RESULT_PARAMS = new Set(['_count', '_sort', '_total', '_summary', '_elements', '_include', '_revinclude', '_cursor', '_type']);
/** Result parameters with one value per search (history's own are checked alike: routes/history.ts). */
const SINGLE_VALUED = new Set(['_count', '_cursor', '_total', '_summary']);
/** Transport parameters the HTTP layer already handled. */
const IGNORED_PARAMS = new Set(['_format', '_pretty']);

const SUBQUERY_DEPTH = 4;

/**
 * Turns a search query (ordered name/value pairs: repeated names are AND,
 * commas inside a value are OR) into a SearchRequest. Throws BadRequestError,
 * naming the parameter, for any malformed value; unknown parameters are listed
 * in `unknown` (an error when strict).
 */
export function parseSearchRequest(types: string[], query: Array<[string, string]>, options: ParseOptions): SearchRequest {
  const ctx: Ctx = { options, now: options.now ?? Date.now() };
  let searchTypes = [...types];
  for (const t of searchTypes) if (!isResourceType(t)) throw bad('_type', `Unknown resource type ${t}`);
  const typeParam = query.filter(([k]) => k === '_type');
  if (typeParam.length > 0) {
    const listed = typeParam.flatMap(([, v]) => v.split(',')).map((s) => s.trim()).filter(Boolean);
    for (const t of listed) if (!isResourceType(t)) throw bad('_type', `Unknown resource type ${t}`);
    // On a type's path `_type` may only narrow to that type: naming only others is a contradiction,
    // not an invitation to search every type.
    if (searchTypes.length && !searchTypes.some((t) => listed.includes(t))) {
      throw bad('_type', `_type=${listed.join(',').slice(0, 80)} names no type this search is for (${searchTypes.join(',')})`);
    }
    searchTypes = searchTypes.length ? searchTypes.filter((t) => listed.includes(t)) : listed;
  }
  const request: SearchRequest = {
    types: searchTypes,
    clauses: [],
    unknown: [],
    count: options.defaultCount,
    sort: [],
    include: [],
    revinclude: [],
    ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
  };
  const paramTypes = searchTypes.length ? searchTypes : ['Resource'];
  const given = new Set<string>();
  for (const [name, value] of query) {
    if (IGNORED_PARAMS.has(name)) continue;
    const base = name.split(':')[0]!;
    if (SINGLE_VALUED.has(base)) {
      // Two page sizes or two cursors have no meaning; taking the last one silently answered another search than the client's.
      if (given.has(base)) throw new BadRequestError('FHIR_ERR_REST_REPEATED_PARAM', `${base} may be given once in a search`, { expression: [base] });
      given.add(base);
    }
    if (RESULT_PARAMS.has(base)) {
      parseResultParam(request, name, value, ctx);
      continue;
    }
    const clause = parseClause(paramTypes, name, value, ctx, 0);
    if (clause === undefined) {
      if (options.strict) throw bad(name, `Unknown search parameter ${name}`);
      if (!request.unknown.includes(name)) request.unknown.push(name);
      continue;
    }
    request.clauses.push(clause);
  }
  return request;
}

interface Ctx {
  options: ParseOptions;
  now: number;
}

function bad(name: string, message: string): BadRequestError {
  return new BadRequestError('FHIR_ERR_SEARCH_PARAM', message, { expression: [name] });
}

/** Looks a parameter up on every type searched; undefined when none has it. */
function resolveParam(types: string[], code: string): SearchParamDef | undefined {
  if (types.length === 1 && types[0] === 'Resource') return commonParam(code);
  let found: SearchParamDef | undefined;
  for (const t of types) {
    const def = getSearchParam(t, code);
    if (!def) continue;
    if (found && found.type !== def.type) throw bad(code, `Parameter ${code} has different types across ${types.join(', ')}`);
    found ??= def;
  }
  return found;
}

/** Parameters every type has (system-level search without `_type`). */
function commonParam(code: string): SearchParamDef | undefined {
  const def = getSearchParam('Patient', code);
  return def && (def.url.startsWith('http://hl7.org/fhir/SearchParameter/Resource-') || def.url.startsWith('http://hl7.org/fhir/SearchParameter/DomainResource-')) ? def : undefined;
}

function parseClause(types: string[], name: string, value: string, ctx: Ctx, depth: number): SearchClause | undefined {
  if (depth > SUBQUERY_DEPTH) throw bad(name, `Too many chained levels in ${name}`);
  if (name.startsWith('_has:')) return parseHas(types, name, name, value, ctx, depth);
  const dot = name.indexOf('.');
  if (dot > 0) return parseChain(types, name, name.slice(0, dot), name.slice(dot + 1), value, ctx, depth);
  const [code, modifier, ...extra] = name.split(':');
  if (extra.length > 0) throw bad(name, `Malformed parameter name ${name}`);
  if (code === '_id') return parseIdClause(name, value, modifier);
  if (code === '_lastUpdated') {
    if (modifier && modifier !== 'missing') throw bad(name, `Unknown modifier :${modifier} on ${code}`);
    if (modifier === 'missing') throw bad(name, 'Every resource has _lastUpdated');
    return { kind: 'param', name, raw: value, code, type: 'date', values: splitOr(value).map((v) => parseDate(name, v, ctx)) };
  }
  const def = resolveParam(types, code!);
  if (!def || def.type === 'special' || !def.expression) return undefined;
  return parseParam(def, name, code!, modifier, value, ctx);
}

function parseIdClause(name: string, value: string, modifier: string | undefined): ParamClause {
  if (modifier && modifier !== 'not') throw bad(name, `Unknown modifier :${modifier} on _id`);
  const values = splitOr(value).map((v) => unescape(v));
  for (const v of values) if (!isFhirId(v)) throw bad(name, `Invalid id ${v}`);
  return { kind: 'param', name, raw: value, code: '_id', type: 'token', ...(modifier ? { modifier } : {}), values: values.map((code) => ({ kind: 'token', code })) };
}

/**
 * Longest single value (between commas) of a parameter: longer than any
 * value worth searching for, and a bound on the patterns string, text and uri
 * matches compile to.
 */
const MAX_VALUE_LENGTH = 2048;

function parseParam(def: SearchParamDef, name: string, code: string, modifier: string | undefined, value: string, ctx: Ctx): ParamClause {
  const clause: ParamClause = { kind: 'param', name, raw: value, code, type: def.type, values: [] };
  let targetType: string | undefined;
  if (modifier !== undefined) {
    if (def.type === 'reference' && /^[A-Z][A-Za-z]+$/.test(modifier)) {
      if (!isResourceType(modifier)) throw bad(name, `Unknown resource type :${modifier}`);
      targetType = modifier;
    } else if (!MODIFIERS[def.type].has(modifier)) {
      throw bad(name, `Unknown modifier :${modifier} on ${def.type} parameter ${code}`);
    } else {
      clause.modifier = modifier;
    }
  }
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') throw bad(name, `:missing takes true or false, not ${value}`);
    clause.missing = value === 'true';
    return clause;
  }
  const parts = splitOr(value);
  if (parts.length === 0 || parts.some((p) => p === '')) throw bad(name, `Empty value in ${name}`);
  if (parts.some((p) => p.length > MAX_VALUE_LENGTH)) throw bad(name, `A value of ${name} is longer than ${MAX_VALUE_LENGTH} characters`);
  clause.values = parts.map((v) => parseValue(def, name, clause.modifier, targetType, v, ctx));
  return clause;
}

function parseValue(def: SearchParamDef, name: string, modifier: string | undefined, targetType: string | undefined, v: string, ctx: Ctx): ParsedValue {
  switch (def.type) {
    case 'token': return parseToken(name, modifier, v);
    case 'reference': return parseReference(name, modifier, targetType, v, ctx);
    case 'string': return { kind: 'string', folded: foldString(unescape(v)), exact: unescape(v) };
    case 'date': return parseDate(name, v, ctx);
    case 'number': return parseNumber(name, v, 'number');
    case 'quantity': return parseQuantity(name, v);
    case 'uri': return { kind: 'uri', uri: unescape(v) };
    case 'composite': return parseComposite(def, name, v, ctx);
    default: throw bad(name, `Parameter ${def.code} cannot be searched`);
  }
}

function parseToken(name: string, modifier: string | undefined, v: string): ParsedValue {
  if (modifier === 'text') return { kind: 'token-text', text: foldString(unescape(v)) };
  if (modifier === 'in' || modifier === 'not-in') {
    const expansion = expandValueSet(unescape(v));
    if (!expansion) throw bad(name, `Cannot expand value set ${unescape(v)}`);
    return { kind: 'token-set', codes: expansion.codes, systems: expansion.systems };
  }
  const parts = splitEscaped(v, '|');
  if (modifier === 'of-type') {
    if (parts.length !== 3 || !parts[1] || !parts[2]) throw bad(name, ':of-type takes system|code|value');
    return { kind: 'of-type', type: `${unescape(parts[0]!)}|${unescape(parts[1])}`, value: unescape(parts[2]) };
  }
  if (parts.length === 1) return { kind: 'token', code: unescape(parts[0]!) };
  if (parts.length !== 2) throw bad(name, `Malformed token ${v}`);
  const [system, code] = parts.map(unescape) as [string, string];
  if (system === '' && code === '') throw bad(name, `Malformed token ${v}`);
  return { kind: 'token', system: system === '' ? null : system, ...(code !== '' ? { code } : {}) };
}

function parseReference(name: string, modifier: string | undefined, targetType: string | undefined, v: string, ctx: Ctx): ParsedValue {
  const text = unescape(v);
  if (modifier === 'identifier') {
    const parts = splitEscaped(v, '|').map(unescape);
    if (parts.length === 1) return { kind: 'reference-identifier', value: parts[0] };
    // `|` alone names neither a system nor a value: it would match every reference (as token's `|` is refused).
    if (parts.length !== 2 || (parts[0] === '' && parts[1] === '')) throw bad(name, `Malformed identifier ${v}`);
    return { kind: 'reference-identifier', system: parts[0] === '' ? null : parts[0], ...(parts[1] ? { value: parts[1] } : {}) };
  }
  if (isFhirId(text)) {
    return targetType ? { kind: 'reference', ref: `${targetType}/${text}` } : { kind: 'reference', id: text };
  }
  let ref = text;
  let version: string | undefined;
  const bar = ref.lastIndexOf('|');
  if (bar > 0 && ref.includes(':')) {
    version = ref.slice(bar + 1);
    ref = ref.slice(0, bar);
  }
  const norm = normalizeReference(ref, ctx.options.baseUrl);
  if (!norm?.r) throw bad(name, `Malformed reference ${text}`);
  if (targetType && norm.t && norm.t !== targetType) throw bad(name, `Reference ${text} is not a ${targetType}`);
  return { kind: 'reference', ref: norm.r, ...(version ? { version } : {}) };
}

function takePrefix(v: string): [Prefix, string] {
  const p = v.slice(0, 2) as Prefix;
  if (PREFIXES.has(p) && v.length > 2 && !/^[a-z]/.test(v.slice(2))) return [p, v.slice(2)];
  return ['eq', v];
}

function parseDate(name: string, v: string, ctx: Ctx): ParsedValue {
  const [prefix, rest] = takePrefix(v);
  // '+' in an unencoded query string arrives as a space.
  const text = rest.replace(/ (\d{2}:\d{2})$/, '+$1');
  const range = dateRange(text);
  if (!range) throw bad(name, `Invalid date ${v} in ${name}`);
  if (prefix === 'ap') {
    const gap = Math.max(Math.abs(ctx.now - range.lo) * 0.1, range.hi - range.lo + 1);
    return { kind: 'date', prefix, lo: range.lo - gap, hi: range.hi + gap };
  }
  return { kind: 'date', prefix, lo: range.lo, hi: range.hi };
}

function parseNumber(name: string, v: string, kind: 'number'): ParsedValue & { kind: 'number' } {
  const [prefix, rest] = takePrefix(v);
  const r = numberRange(rest);
  if (!r) throw bad(name, `Invalid number ${v} in ${name}`);
  if (prefix === 'ap') {
    const tol = Math.abs(r.n) * 0.1;
    return { kind, prefix, n: r.n, lo: r.n - tol, hi: r.n + tol };
  }
  return { kind, prefix, ...r };
}

function parseQuantity(name: string, v: string): ParsedValue {
  const parts = splitEscaped(v, '|').map(unescape);
  if (parts.length !== 1 && parts.length !== 3) throw bad(name, `Malformed quantity ${v}: use value|system|code`);
  const num = parseNumber(name, parts[0]!, 'number');
  return {
    kind: 'quantity', prefix: num.prefix, n: num.n, lo: num.lo, hi: num.hi,
    ...(parts[1] ? { system: parts[1] } : {}), ...(parts[2] ? { code: parts[2] } : {}),
  };
}

function parseComposite(def: SearchParamDef, name: string, v: string, ctx: Ctx): ParsedValue {
  const components = def.components ?? [];
  const parts = splitEscaped(v, '$');
  if (parts.length !== components.length) throw bad(name, `${def.code} takes ${components.length} components separated by $`);
  return {
    kind: 'composite',
    parts: parts.map((p, i) => {
      const type = components[i]!.type;
      const fake = { ...def, type, components: undefined } as SearchParamDef;
      return parseValue(fake, name, undefined, undefined, p, ctx);
    }),
  };
}

function parseChain(types: string[], fullName: string, head: string, rest: string, value: string, ctx: Ctx, depth: number): SearchClause | undefined {
  const [code, typeModifier, ...extra] = head.split(':');
  if (extra.length) throw bad(fullName, `Malformed chain ${fullName}`);
  const def = resolveParam(types, code!);
  if (!def) return undefined;
  if (def.type !== 'reference') throw bad(fullName, `${code} is not a reference parameter and cannot be chained`);
  if (typeModifier !== undefined && !isResourceType(typeModifier)) throw bad(fullName, `Unknown resource type :${typeModifier}`);
  const candidates = typeModifier ? [typeModifier] : def.targets.length ? def.targets.filter(isResourceType) : listResourceTypes();
  const nextCode = rest.split(/[.:]/)[0]!;
  const targets = nextCode.startsWith('_') ? candidates : candidates.filter((t) => getSearchParam(t, nextCode));
  if (targets.length === 0) throw bad(fullName, `No target of ${code} has a parameter ${nextCode}`);
  const next = parseClause(targets, rest, value, ctx, depth + 1);
  if (!next) return undefined;
  return { kind: 'chain', name: fullName, raw: value, code: code!, targets, next };
}

function parseHas(types: string[], fullName: string, name: string, value: string, ctx: Ctx, depth: number): SearchClause | undefined {
  // _has:Observation:patient:code  (the rest may itself be a _has)
  const m = /^_has:([A-Za-z]+):([A-Za-z0-9\-_]+):(.+)$/.exec(name);
  if (!m) throw bad(fullName, `Malformed ${fullName}: use _has:Type:reference:parameter`);
  const [, type, ref, rest] = m as unknown as [string, string, string, string];
  if (!isResourceType(type)) throw bad(fullName, `Unknown resource type ${type} in ${fullName}`);
  const refDef = getSearchParam(type, ref);
  if (!refDef || refDef.type !== 'reference') throw bad(fullName, `${type} has no reference parameter ${ref}`);
  if (types[0] !== 'Resource' && refDef.targets.length && !types.some((t) => refDef.targets.includes(t))) {
    throw bad(fullName, `${type}.${ref} does not point at ${types.join(', ')}`);
  }
  const next = parseClause([type], rest, value, ctx, depth + 1);
  if (!next) return undefined;
  return { kind: 'has', name: fullName, raw: value, type, ref, next };
}

function parseResultParam(request: SearchRequest, name: string, value: string, ctx: Ctx): void {
  const [base, modifier] = name.split(':');
  const types = request.types;
  switch (base) {
    case '_type':
      return;
    case '_count': {
      if (!/^\d{1,9}$/.test(value)) {
        throw new BadRequestError('FHIR_ERR_SEARCH_BAD_COUNT', `_count must be a non-negative integer, not "${value.slice(0, 40)}"`, { expression: ['_count'] });
      }
      request.count = Math.min(Number(value), ctx.options.maxCount);
      return;
    }
    case '_cursor':
      if (!value) throw bad(name, 'Empty _cursor');
      request.cursor = value;
      return;
    case '_total':
      if (value !== 'none' && value !== 'estimate' && value !== 'accurate') throw bad(name, `_total takes none, estimate or accurate, not ${value}`);
      request.total = value as TotalMode;
      return;
    case '_summary':
      if (!['true', 'text', 'data', 'count', 'false'].includes(value)) throw bad(name, `_summary takes true, text, data, count or false, not ${value}`);
      request.summary = value as SummaryMode;
      return;
    case '_elements': {
      const elements = value.split(',').map((s) => s.trim()).filter(Boolean);
      for (const e of elements) if (!/^[A-Za-z][A-Za-z0-9]*(\[x\])?$/.test(e) && !/^[A-Z][A-Za-z]+\.[a-z][A-Za-z0-9]*$/.test(e)) throw bad(name, `Invalid element ${e}`);
      request.elements = [...(request.elements ?? []), ...elements];
      return;
    }
    case '_sort': {
      for (const item of value.split(',').map((s) => s.trim()).filter(Boolean)) {
        const rule = parseSortRule(types, name, item);
        // A parameter sorted on twice has no second meaning (and MongoDB would keep the last direction in the first place).
        if (request.sort.some((r) => r.code === rule.code)) throw bad(name, `${rule.code} is sorted on more than once`);
        // Each sorted parameter is four sort keys on MongoDB (both bounds and their "missing" flags), which takes 32.
        if (request.sort.length === MAX_SORT_RULES) throw bad(name, `At most ${MAX_SORT_RULES} parameters may be sorted on`);
        request.sort.push(rule);
      }
      return;
    }
    case '_include':
    case '_revinclude': {
      if (modifier !== undefined && modifier !== 'iterate' && modifier !== 'recurse') throw bad(name, `Unknown modifier :${modifier} on ${base}`);
      const rule = parseInclude(types, name, value, modifier !== undefined, base === '_revinclude');
      (base === '_include' ? request.include : request.revinclude).push(rule);
      return;
    }
    default:
      throw bad(name, `Unsupported parameter ${name}`);
  }
}

const MAX_SORT_RULES = 6;

function parseSortRule(types: string[], name: string, item: string): SortRule {
  const descending = item.startsWith('-');
  const code = descending ? item.slice(1) : item;
  if (code === '_id' || code === '_lastUpdated') return { code, descending };
  const def = resolveParam(types.length ? types : ['Resource'], code);
  if (!def || def.type === 'composite' || def.type === 'special') throw bad(name, `Cannot sort by ${code}`);
  return { code, descending };
}

function parseInclude(types: string[], name: string, value: string, iterate: boolean, reverse: boolean): IncludeRule {
  if (value === '*') return { type: '*', code: '*', iterate, raw: value };
  const [type, code, target, ...extra] = value.split(':');
  if (extra.length || !type || !code) throw bad(name, `Malformed ${name}=${value}: use Type:parameter[:targetType]`);
  if (!isResourceType(type)) throw bad(name, `Unknown resource type ${type}`);
  if (target !== undefined && !isResourceType(target)) throw bad(name, `Unknown resource type ${target}`);
  if (code !== '*') {
    const def = getSearchParam(type, code);
    if (!def || def.type !== 'reference') throw bad(name, `${type} has no reference parameter ${code}`);
  }
  if (!reverse && !iterate && types.length && !types.includes(type)) throw bad(name, `${type} is not searched here; use ${name}:iterate`);
  return { type, code, ...(target ? { target } : {}), iterate, raw: value };
}

/** Splits at commas not escaped with a backslash. */
function splitOr(value: string): string[] {
  return splitEscaped(value, ',');
}

function splitEscaped(value: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\\' && i + 1 < value.length) {
      cur += ch + value[i + 1];
      i++;
    } else if (ch === sep) {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out;
}

function unescape(value: string): string {
  return value.replace(/\\([\\,|$])/g, '$1');
}
