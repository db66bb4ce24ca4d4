import type { ConstraintInfo } from './element-model-types.js';
import type { TypeIndex } from './element-index.js';
import { compileInvariant, type CompiledInvariant, type InvariantEnv } from './invariants.js';
import { isSafeNarrative } from './narrative.js';

/**
 * Most R4 invariants are Boolean combinations of `x.exists()` / `x.empty()` over
 * child elements, and most of them hold trivially because the element they talk
 * about is absent. A FHIRPath evaluation costs 30-80 µs; this decides the easy
 * cases natively and calls fhirpath.js only for what it cannot settle.
 */
type Tri = boolean | undefined;
type Leaf = (node: unknown) => Tri;
export type Ast = { op: 'or' | 'and' | 'implies'; terms: Ast[] } | { leaf: Leaf };

// Keyed by the model's own constraint objects: one per (type, element), so one per FHIRPath base.
const cache = new WeakMap<ConstraintInfo, CompiledInvariant | null>();
export const slowCalls = new Map<string, number>();

export function compileFastInvariant(index: TypeIndex, path: string, basePath: string | (() => string), c: ConstraintInfo): CompiledInvariant | null {
  const cached = cache.get(c);
  if (cached !== undefined) return cached;
  const base = typeof basePath === 'string' ? basePath : basePath();
  const slow = compileInvariant(base, c);
  let result: CompiledInvariant | null = slow;
  if (slow) {
    const ast = parse(c.expression.trim(), index, path);
    result = {
      ...slow,
      holds(node: unknown, env: InvariantEnv) {
        const quick = evaluate(ast, node);
        if (quick === undefined && process.env.DEBUG_SLOW) slowCalls.set(`${base} ${c.key}`, (slowCalls.get(`${base} ${c.key}`) ?? 0) + 1);
        return quick === undefined ? slow.holds(node, env) : quick;
      },
    };
  }
  cache.set(c, result);
  return result;
}

/** Three-valued, as FHIRPath: undefined when a term cannot be decided here. Runs per element per constraint: no allocation. */
export function evaluate(ast: Ast, node: unknown): Tri {
  if ('leaf' in ast) return ast.leaf(node);
  const { op, terms } = ast;
  if (op === 'implies') {
    const a = evaluate(terms[0]!, node);
    if (a === false) return true;
    const b = evaluate(terms[1]!, node);
    if (b === true) return true;
    return a === true && b === false ? false : undefined;
  }
  // or: true as soon as one term is, false when all are; and: the reverse.
  const decisive = op === 'or';
  let allOpposite = true;
  for (const term of terms) {
    const value = evaluate(term, node);
    if (value === decisive) return decisive;
    if (value !== !decisive) allOpposite = false;
  }
  return allOpposite ? !decisive : undefined;
}

const unknown: Ast = { leaf: () => undefined };

function parse(expr: string, index: TypeIndex, path: string): Ast {
  const inner = stripParens(expr);
  for (const op of ['implies', 'or', 'and'] as const) {
    const parts = splitTopLevel(inner, ` ${op} `);
    if (parts.length > 1) {
      if (op === 'implies' && parts.length !== 2) return unknown;
      if (splitTopLevel(inner, ' xor ').length > 1) return unknown;
      return { op, terms: parts.map((p) => parse(p, index, path)) };
    }
  }
  if (/ (xor|implies|or|and) /.test(inner) && splitTopLevel(inner, ' xor ').length > 1) return unknown;
  return { leaf: compileLeaf(inner, index, path) ?? (() => undefined) };
}

function stripParens(expr: string): string {
  let e = expr.trim();
  while (e.startsWith('(') && matchingParen(e, 0) === e.length - 1) e = e.slice(1, -1).trim();
  return e;
}

function matchingParen(s: string, open: number): number {
  let depth = 0;
  let quote = false;
  for (let i = open; i < s.length; i++) {
    const ch = s[i];
    if (ch === "'" && s[i - 1] !== '\\') quote = !quote;
    if (quote) continue;
    if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return i;
  }
  return -1;
}

function splitTopLevel(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === "'" && s[i - 1] !== '\\') quote = !quote;
    if (quote) continue;
    if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else if (depth === 0 && s.startsWith(sep, i)) {
      out.push(s.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

/** Functions that keep "empty in, empty out": a chain of them from an absent element stays empty. */
const EMPTY_PRESERVING = new Set(['where', 'select', 'ofType', 'as', 'first', 'last', 'tail', 'distinct', 'trace',
  'descendants', 'children', 'repeat', 'extension', 'resolve', 'intersect', 'single', 'substring', 'lower', 'upper']);

function compileLeaf(term: string, index: TypeIndex, path: string): Leaf | undefined {
  if (term === 'start <= end') return comparePeriod;
  if (term === 'htmlChecks()') return (node) => (typeof node === 'string' ? isSafeNarrative(node) : undefined);
  const steps = splitChain(term);
  if (!steps || steps.length < 2) return undefined;
  const last = steps[steps.length - 1];
  const first = steps[0];
  if (!/^[a-zA-Z]\w*$/.test(first)) return undefined;
  const middle = steps.slice(1, -1);
  const firstDef = index.childrenOf(path).find((d) => d.name === first);
  const isChoice = firstDef?.info.choice === true;
  const present = (node: unknown): boolean => childValues(node, first, isChoice).length > 0;
  const pureNames = middle.every((s) => /^[a-zA-Z]\w*$/.test(s));
  const preserving = middle.every((s) => /^[a-zA-Z]\w*$/.test(s) || EMPTY_PRESERVING.has(s.replace(/\(.*$/s, '')));
  const navigate = (node: unknown): unknown[] | undefined => {
    let values = childValues(node, first, isChoice);
    for (const name of middle) values = values.flatMap((v) => plainChildren(v, name));
    return values;
  };
  const not = last === 'not()' && steps.length >= 3 ? steps[steps.length - 2] : undefined;
  if (last === 'empty()' || last === 'exists()') {
    const wantEmpty = last === 'empty()';
    return (node) => {
      if (!present(node)) return preserving ? wantEmpty : undefined;
      if (!pureNames || middle.some((n) => isChoiceLike(n))) return undefined;
      const values = navigate(node) as unknown[];
      return wantEmpty ? values.length === 0 : values.length > 0;
    };
  }
  if (last === 'hasValue()' || (not === 'hasValue()' && steps.length === 3)) {
    if (middle.length > (not ? 1 : 0)) return undefined;
    return (node) => {
      const v = childValues(node, first, isChoice);
      const has = v.length === 1 && v[0] !== null && typeof v[0] !== 'object';
      if (v.length > 1) return undefined;
      return not ? !has : has;
    };
  }
  const starts = /^startsWith\('([^'\\]*)'\)$/.exec(not && steps.length === 3 ? not : steps.length === 2 ? last : '');
  if (starts) {
    return (node) => {
      const v = childValues(node, first, isChoice);
      if (v.length === 0) return not ? true : undefined;
      if (v.length > 1 || typeof v[0] !== 'string') return undefined;
      const r = (v[0] as string).startsWith(starts[1]);
      return not ? !r : r;
    };
  }
  if (/^all\(/.test(last) && middle.length === 0) return (node) => (present(node) ? undefined : true);
  return undefined;
}

/** per-1 when both bounds have the same precision and timezone form: then they compare as instants or as strings. */
function comparePeriod(node: unknown): Tri {
  const { start, end } = (node ?? {}) as { start?: unknown; end?: unknown };
  if (typeof start !== 'string' || typeof end !== 'string') return undefined;
  if (start.length <= 10 && start.length === end.length) return start <= end;
  if (start.length > 10 && end.length > 10 && /(Z|[+-]\d\d:\d\d)$/.test(start) && /(Z|[+-]\d\d:\d\d)$/.test(end)) {
    const a = Date.parse(start);
    const b = Date.parse(end);
    if (!Number.isNaN(a) && !Number.isNaN(b)) return a <= b;
  }
  return undefined;
}

function isChoiceLike(name: string): boolean {
  return name === 'value' || name.endsWith('[x]');
}

/** `a.b.where(x = 1).exists()` -> ['a', 'b', 'where(x = 1)', 'exists()']; undefined if not a plain chain. */
function splitChain(term: string): string[] | undefined {
  const steps: string[] = [];
  let i = 0;
  while (i < term.length) {
    const m = /^[a-zA-Z_]\w*/.exec(term.slice(i));
    if (!m) return undefined;
    let step = m[0];
    i += step.length;
    if (term[i] === '(') {
      const close = matchingParen(term, i);
      if (close < 0) return undefined;
      step += term.slice(i, close + 1);
      i = close + 1;
    }
    steps.push(step);
    if (i === term.length) break;
    if (term[i] !== '.') return undefined;
    i++;
  }
  return steps;
}

function childValues(node: unknown, name: string, isChoice: boolean): unknown[] {
  if (node === null || typeof node !== 'object') return [];
  const obj = node as Record<string, unknown>;
  if (isChoice) {
    const out: unknown[] = [];
    for (const key in obj) if (key.startsWith(name) && /^[A-Z]/.test(key.slice(name.length))) out.push(...asArray(obj[key]));
    return out;
  }
  const v = obj[name];
  const ext = obj[`_${name}`];
  if (v === undefined) return ext === undefined ? [] : asArray(ext).map(() => ({}));
  return asArray(v);
}

function plainChildren(node: unknown, name: string): unknown[] {
  if (node === null || typeof node !== 'object') return [];
  const obj = node as Record<string, unknown>;
  if (obj[name] === undefined) return obj[`_${name}`] === undefined ? [] : asArray(obj[`_${name}`]).map(() => ({}));
  return asArray(obj[name]);
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}
