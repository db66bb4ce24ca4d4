import type { Resource } from '@medplum/fhirtypes';
import { compareRanges, dateRange, elementRange } from './date-range.js';
import type { Prefix, Range } from './date-range.js';
import { paramDefinition } from './parameter-definitions.js';
import type { ParamDefinition } from './parameter-definitions.js';
import { withArticle } from '../runner/wording.js';

/**
 * The kit's own judge of "does this returned resource match this search?",
 * working on the returned JSON only. Anything it cannot judge alone (chains,
 * terminology modifiers, composites) is reported as unverifiable, never as a match.
 */

export type Verdict = { kind: 'match' } | { kind: 'mismatch'; reason: string } | { kind: 'unverifiable'; reason: string };

/** Result parameters shape the answer, not the match. */
const RESULT_PARAMS = new Set([
  '_count', '_sort', '_include', '_revinclude', '_summary', '_elements', '_total', '_format', '_contained', '_containedType', '_pretty', '_getpages', '_offset', '_page',
]);

const PREFIXES: Prefix[] = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'];

export function normaliseString(s: string): string {
  return s.normalize('NFD').replace(/\p{Diacritic}/gu, '').toLowerCase();
}

function splitPrefix(value: string): [Prefix, string] {
  const p = value.slice(0, 2) as Prefix;
  if (PREFIXES.includes(p) && /^[a-z]{2}[-\d]/.test(value)) return [p, value.slice(2)];
  return ['eq', value];
}

/** Splits on unescaped commas (`\,` is a literal comma). */
function splitOr(value: string): string[] {
  return value.split(/(?<!\\),/).map((v) => v.replace(/\\,/g, ','));
}

// ---- strings

function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (!value || typeof value !== 'object') return [];
  const v = value as Record<string, unknown>;
  const out: string[] = [];
  for (const key of ['family', 'given', 'prefix', 'suffix', 'text', 'line', 'city', 'district', 'state', 'postalCode', 'country']) {
    const f = v[key];
    if (typeof f === 'string') out.push(f);
    else if (Array.isArray(f)) out.push(...f.filter((x): x is string => typeof x === 'string'));
  }
  return out;
}

function matchString(values: unknown[], query: string, modifier: string | undefined): boolean {
  const strings = values.flatMap(stringsOf);
  if (modifier === 'exact') return strings.some((s) => s === query);
  const q = normaliseString(query);
  if (modifier === 'contains') return strings.some((s) => normaliseString(s).includes(q));
  return strings.some((s) => normaliseString(s).startsWith(q));
}

// ---- tokens

interface TokenValue {
  system?: string;
  code?: string;
  text: string[];
}

function tokensOf(value: unknown): TokenValue[] {
  if (typeof value === 'string') return [{ code: value, text: [] }];
  if (typeof value === 'boolean') return [{ code: String(value), text: [] }];
  if (!value || typeof value !== 'object') return [];
  const v = value as Record<string, unknown>;
  if (Array.isArray(v.coding)) {
    const text = typeof v.text === 'string' ? [v.text] : [];
    const codings = (v.coding as Record<string, unknown>[]).flatMap(tokensOf);
    return codings.length ? codings.map((c) => ({ ...c, text: [...c.text, ...text] })) : [{ text }];
  }
  if ('value' in v && !('code' in v)) {
    // Identifier or ContactPoint
    return [{ system: v.system as string | undefined, code: v.value as string | undefined, text: typeof (v.type as { text?: string })?.text === 'string' ? [(v.type as { text: string }).text] : [] }];
  }
  return [{ system: v.system as string | undefined, code: v.code as string | undefined, text: typeof v.display === 'string' ? [v.display] : [] }];
}

function matchToken(values: unknown[], query: string, modifier: string | undefined): boolean | undefined {
  const tokens = values.flatMap(tokensOf);
  if (modifier === 'text') {
    const q = normaliseString(query);
    return tokens.some((t) => t.text.some((s) => normaliseString(s).startsWith(q) || normaliseString(s).includes(` ${q}`)));
  }
  if (modifier && modifier !== 'not') return undefined;
  const bar = query.indexOf('|');
  const test = (t: TokenValue): boolean => {
    if (bar < 0) return t.code === query;
    const system = query.slice(0, bar);
    const code = query.slice(bar + 1);
    if (system === '') return t.system === undefined && t.code === code;
    if (code === '') return t.system === system;
    return t.system === system && t.code === code;
  };
  return tokens.some(test);
}

// ---- numbers and quantities

function decimalRange(text: string): Range | undefined {
  if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text)) return undefined;
  const n = Number(text);
  const decimals = /[eE]/.test(text) ? 0 : (text.split('.')[1]?.length ?? 0);
  const half = 0.5 * 10 ** -decimals;
  return { lo: n - half, hi: n + half };
}

function matchNumber(value: number, prefix: Prefix, qText: string): boolean | undefined {
  const q = decimalRange(qText);
  if (!q) return undefined;
  const n = Number(qText);
  switch (prefix) {
    case 'eq':
      return value >= q.lo && value < q.hi;
    case 'ne':
      return !(value >= q.lo && value < q.hi);
    case 'gt':
    case 'sa':
      return value > n;
    case 'lt':
    case 'eb':
      return value < n;
    case 'ge':
      return value >= n;
    case 'le':
      return value <= n;
    case 'ap':
      return Math.abs(value - n) <= Math.abs(n) * 0.1;
  }
}

function matchQuantity(values: unknown[], query: string): boolean | undefined {
  const [number = '', system, code] = query.split('|');
  const [prefix, num] = splitPrefix(number);
  let undecidable = false;
  const ok = values.some((v) => {
    if (!v || typeof v !== 'object') return false;
    const q = v as { value?: number; system?: string; code?: string; unit?: string };
    if (typeof q.value !== 'number') return false;
    if (code !== undefined && code !== '') {
      const sameUnit = system ? q.system === system && q.code === code : q.code === code || q.unit === code;
      if (!sameUnit) return false;
    }
    const r = matchNumber(q.value, prefix, num);
    if (r === undefined) undecidable = true;
    return r === true;
  });
  return ok ? true : undecidable ? undefined : false;
}

// ---- references

function matchReference(values: unknown[], query: string, modifier: string | undefined, def: ParamDefinition): boolean | undefined {
  if (modifier && modifier !== 'not' && !/^[A-Z]/.test(modifier)) return undefined;
  const refs = values
    .map((v) => (typeof v === 'string' ? v : (v as { reference?: string } | undefined)?.reference))
    .filter((r): r is string => typeof r === 'string');
  let wanted: string[];
  if (/^[A-Z][A-Za-z]+\/[^/]+$/.test(query)) wanted = [query];
  else if (/^https?:\/\//.test(query)) wanted = [query, query.replace(/^.*\/([A-Z][A-Za-z]+\/[^/]+)$/, '$1')];
  else if (modifier && /^[A-Z]/.test(modifier)) wanted = [`${modifier}/${query}`];
  else wanted = (def.target.length ? def.target : ['']).map((t) => (t ? `${t}/${query}` : query));
  // A stored reference may be absolute: compare on its Type/id tail.
  return refs.some((r) => wanted.includes(r) || wanted.includes(r.replace(/^.*\/([A-Z][A-Za-z]+\/[^/]+?)(\/_history\/.*)?$/, '$1')));
}

// ---- the judge

function judgeOne(resource: Resource, def: ParamDefinition, modifier: string | undefined, rawValue: string): boolean | undefined {
  const values = def.evaluate(resource);
  if (modifier === 'missing') {
    if (rawValue !== 'true' && rawValue !== 'false') return undefined;
    return (values.length === 0) === (rawValue === 'true');
  }
  const alternatives = splitOr(rawValue);
  const results = alternatives.map((alt): boolean | undefined => {
    switch (def.type) {
      case 'string':
        return matchString(values, alt, modifier);
      case 'token': {
        const r = matchToken(values, alt, modifier === 'not' ? undefined : modifier);
        return r;
      }
      case 'date': {
        const [prefix, text] = splitPrefix(alt);
        const q = dateRange(text);
        if (!q) return undefined;
        return values.some((v) => {
          const r = elementRange(v);
          return r !== undefined && compareRanges(prefix, r, q);
        });
      }
      case 'number': {
        const [prefix, text] = splitPrefix(alt);
        let undecidable = false;
        const ok = values.some((v) => {
          if (typeof v !== 'number') return false;
          const r = matchNumber(v, prefix, text);
          if (r === undefined) undecidable = true;
          return r === true;
        });
        return ok ? true : undecidable ? undefined : false;
      }
      case 'quantity':
        return matchQuantity(values, alt);
      case 'reference':
        return matchReference(values, alt, modifier === 'not' ? undefined : modifier, def);
      case 'uri':
        if (modifier === 'below') return values.some((v) => typeof v === 'string' && v.startsWith(alt));
        if (modifier) return undefined;
        return values.some((v) => v === alt);
      default:
        return undefined;
    }
  });
  const any = results.some((r) => r === true);
  if (modifier === 'not') {
    if (results.some((r) => r === undefined)) return undefined;
    return !any;
  }
  if (any) return true;
  return results.some((r) => r === undefined) ? undefined : false;
}

/**
 * Judges one returned resource against the query of a search on `type`.
 * `params` are the query's name/value pairs as sent (repeated names AND together).
 */
export function judgeEntry(type: string, resource: Resource, params: [string, string][]): Verdict {
  if (resource.resourceType !== type) return { kind: 'mismatch', reason: `${withArticle(resource.resourceType)} among the matches of ${withArticle(type)} search` };
  for (const [name, value] of params) {
    if (RESULT_PARAMS.has(name)) continue;
    if (name.includes('.') || name.startsWith('_has')) return { kind: 'unverifiable', reason: `chained parameter ${name}` };
    const [code = '', modifier] = name.split(':');
    const def = paramDefinition(type, code);
    if (!def) return { kind: 'unverifiable', reason: `no R4 definition for ${type}.${code}` };
    const verdict = judgeOne(resource, def, modifier, value);
    if (verdict === undefined) return { kind: 'unverifiable', reason: `${name}=${value} cannot be judged from the resource alone` };
    if (!verdict) return { kind: 'mismatch', reason: `${resource.resourceType}/${resource.id} does not satisfy ${name}=${value} (${def.expression} gives ${JSON.stringify(def.evaluate(resource)).slice(0, 200)})` };
  }
  return { kind: 'match' };
}
