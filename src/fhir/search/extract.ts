import type { Resource } from '@medplum/fhirtypes';
import type { CompiledTypedPath, TypedValue } from '../fhirpath.js';
import { parseTypedUrl, relativeToBase } from '../references.js';
import { patientCompartmentParams } from './compartment.js';
import type {
  CompositeIndex, DateIndex, IndexValue, NumberIndex, QuantityIndex, ReferenceIndex, SearchIndex, SortKeys, StringIndex, TokenIndex, UriIndex,
} from './index-types.js';
import { dateRange, foldString, MAX_DATE_MS, MIN_DATE_MS, numberValueRange } from './normalize.js';
import { compileSearchExpression, indexedSearchParams } from './params.js';
import type { SearchParamDef, SearchParamType } from './params.js';

export interface ExtractedIndex {
  idx: SearchIndex;
  srt: SortKeys;
  comp: string[];
}

export interface ExtractOptions {
  /** The server's FHIR base: absolute references to it are indexed as local `Type/id`. */
  baseUrl?: string;
}

type Obj = Record<string, unknown>;

/**
 * Computes the search index values of one resource (write time only). Every
 * parameter of the resource's type with an expression is evaluated; a
 * parameter without values is left out, so `:missing` is `$exists`.
 */
export function extractIndex(written: Resource, options: ExtractOptions = {}): ExtractedIndex {
  const idx: SearchIndex = {};
  const srt: SortKeys = {};
  // Also what `x.where(resolve() is Patient)` (a test on the reference text, params.ts) sees.
  const resource = options.baseUrl ? localiseReferences(written, `${options.baseUrl}/`) : written;
  const type = resource.resourceType;
  for (const def of indexedSearchParams(type)) {
    let values: IndexValue[];
    try {
      values = def.type === 'composite' ? extractComposite(def, resource, options) : toIndexValues(def.type, def.evaluate(resource), options);
    } catch {
      // An expression the engine cannot evaluate on this valid resource is our gap, not the
      // client's fault: the parameter stays unindexed rather than the write failing.
      continue;
    }
    if (values.length === 0) continue;
    idx[def.code] = values.length > DISTINCT_FROM ? distinct(values) : values;
    addSortKeys(srt, def.code, def.type, values);
  }
  return { idx, srt, comp: compartmentsOf(resource, idx) };
}

/**
 * Values of one parameter beyond which repeats are dropped. A typical
 * resource has a few per parameter, where a repeat costs little and looking
 * for them costs a serialisation per value on every write.
 */
const DISTINCT_FROM = 16;

/**
 * Each value once: a search matches when any value does, so a repeat adds
 * nothing but size to the stored index, and to the journal (a Patient sent
 * with a million identical given names made an index of 60 MB).
 */
function distinct(values: IndexValue[]): IndexValue[] {
  const seen = new Set<string>();
  const out: IndexValue[] = [];
  for (const value of values) {
    const key = JSON.stringify(value);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(value);
  }
  return out.length === values.length ? values : out;
}

/**
 * The resource with every `reference` that starts with this server's base
 * (`base` ends with '/') made local: `<base>Patient/1` -> `Patient/1`. The
 * same object when there is none; otherwise a copy sharing every branch
 * without one.
 */
export function localiseReferences<T>(node: T, base: string): T {
  if (node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) {
    let copy: unknown[] | undefined;
    node.forEach((item: unknown, i) => {
      const local = localiseReferences(item, base);
      if (local !== item) (copy ??= [...node])[i] = local;
    });
    return (copy ?? node) as T;
  }
  let copy: Obj | undefined;
  // for-in rather than Object.entries: this walks every new version, and parsed JSON has own keys only.
  for (const key in node as Obj) {
    const value = (node as Obj)[key];
    const local = key === 'reference' && typeof value === 'string'
      ? (value.startsWith(base) ? value.slice(base.length) : value)
      : localiseReferences(value, base);
    if (local !== value) (copy ??= { ...(node as Obj) })[key] = local;
  }
  return (copy ?? node) as T;
}

/** Index values of a parameter type from the nodes an expression selected. */
export function toIndexValues(type: SearchParamType, nodes: TypedValue[], options: ExtractOptions = {}): IndexValue[] {
  if (nodes.length === 0) return [];
  const out: IndexValue[] = [];
  for (const node of nodes) {
    switch (type) {
      case 'token': tokenValues(node, out); break;
      case 'reference': referenceValues(node, out, options); break;
      case 'string': stringValues(node, out); break;
      case 'date': dateValues(node, out); break;
      case 'number': numberValues(node, out); break;
      case 'quantity': quantityValues(node, out); break;
      case 'uri': uriValues(node, out); break;
      default: break;
    }
  }
  // Duplicates are left in: filters match any element, and removing them costs more than storing them.
  return out;
}

function tokenValues(node: TypedValue, out: IndexValue[]): void {
  const v = node.value;
  switch (node.type) {
    case 'CodeableConcept': {
      const cc = v as Obj;
      const codings = Array.isArray(cc.coding) ? (cc.coding as Obj[]) : [];
      const text = typeof cc.text === 'string' ? foldString(cc.text) : undefined;
      for (const coding of codings) {
        out.push(codingToken(coding, text));
        // :text matches CodeableConcept.text or any Coding.display (search.html#modifiers): a display
        // hidden behind the text gets an entry of its own, with no code to match anything else.
        const display = text === undefined || typeof coding.display !== 'string' ? undefined : foldString(coding.display);
        if (display && display !== text) out.push({ t: display });
      }
      if (codings.length === 0 && text) out.push({ t: text });
      return;
    }
    case 'Coding':
      out.push(codingToken(v as Obj, undefined));
      return;
    case 'Identifier': {
      const id = v as Obj;
      const t: TokenIndex = tokenOf(str(id.system), str(id.value));
      const idType = id.type as Obj | undefined;
      if (idType) {
        const ty = (Array.isArray(idType.coding) ? (idType.coding as Obj[]) : [])
          .filter((c) => typeof c.code === 'string')
          .map((c) => `${str(c.system) ?? ''}|${c.code as string}`);
        if (ty.length) t.ty = ty;
        if (typeof idType.text === 'string') t.t = foldString(idType.text);
      }
      if (t.c !== undefined || t.s !== undefined) out.push(t);
      return;
    }
    case 'ContactPoint': {
      // The ContactPoint's system is a kind (phone, email), not a namespace: match on value.
      const value = str((v as Obj).value);
      if (value !== undefined) out.push({ c: value });
      return;
    }
    case 'boolean':
      if (typeof v === 'boolean') out.push({ c: String(v) });
      return;
    case 'Reference': {
      const ref = str((v as Obj).reference);
      if (ref !== undefined) out.push({ c: ref });
      return;
    }
    case 'Quantity': case 'Age': case 'Duration': case 'Distance': case 'Count': case 'SimpleQuantity': {
      const q = v as Obj;
      if (q.code !== undefined || q.system !== undefined) out.push(tokenOf(str(q.system), str(q.code)));
      return;
    }
    default:
      if (typeof v === 'string' || typeof v === 'number') out.push({ c: String(v) });
  }
}

function codingToken(coding: Obj, ccText: string | undefined): TokenIndex {
  const t = tokenOf(str(coding.system), str(coding.code));
  const display = typeof coding.display === 'string' ? foldString(coding.display) : undefined;
  // The CodeableConcept's text when it has one (the caller indexes the display apart), else the display.
  const text = ccText ?? display;
  if (text) t.t = text;
  return t;
}

function tokenOf(system: string | undefined, code: string | undefined): TokenIndex {
  const t: TokenIndex = {};
  if (system !== undefined) t.s = system;
  if (code !== undefined) t.c = code;
  if (system !== undefined && code !== undefined) t.sc = `${system}|${code}`;
  return t;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

const HISTORY_RE = /\/_history\/[^/]+$/;

/** Normalises a reference text: `_history` dropped, the server's own base removed. */
export function normalizeReference(reference: string, baseUrl?: string): ReferenceIndex | undefined {
  if (reference.startsWith('#')) return undefined;
  let ref = reference.replace(HISTORY_RE, '');
  if (baseUrl) ref = relativeToBase(ref, baseUrl);
  const named = parseTypedUrl(ref);
  const out: ReferenceIndex = { r: ref };
  if (named) {
    out.t = named.type;
    // Only a local reference's id stands for the target on this server.
    if (!ref.includes(':')) out.i = named.id;
  }
  return out;
}

function referenceValues(node: TypedValue, out: IndexValue[], options: ExtractOptions): void {
  const v = node.value;
  if (node.type === 'Reference') {
    const ref = v as Obj;
    const text = str(ref.reference);
    let entry: ReferenceIndex | undefined = text ? normalizeReference(text, options.baseUrl) : undefined;
    if (text?.startsWith('#')) return;
    const identifier = ref.identifier as Obj | undefined;
    if (identifier && (identifier.value !== undefined || identifier.system !== undefined)) {
      entry ??= {};
      if (typeof identifier.system === 'string') entry.s = identifier.system;
      if (typeof identifier.value === 'string') entry.c = identifier.value;
    }
    if (entry && !entry.t && typeof ref.type === 'string') entry.t = ref.type;
    if (entry) out.push(entry);
    return;
  }
  if (typeof v === 'string') {
    if (node.type === 'canonical') {
      const bar = v.lastIndexOf('|');
      out.push(bar > 0 ? { r: v.slice(0, bar), v: v.slice(bar + 1) } : { r: v });
      return;
    }
    const entry = normalizeReference(v, options.baseUrl);
    if (entry) out.push(entry);
  }
}

const NAME_PARTS = ['family', 'given', 'prefix', 'suffix', 'text'];
const ADDRESS_PARTS = ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text'];

function stringValues(node: TypedValue, out: IndexValue[]): void {
  const v = node.value;
  if (typeof v === 'string') {
    pushString(v, out);
    return;
  }
  if (v === null || typeof v !== 'object') return;
  const parts = node.type === 'HumanName' ? NAME_PARTS : node.type === 'Address' ? ADDRESS_PARTS : undefined;
  if (!parts) return;
  for (const part of parts) {
    const p = (v as Obj)[part];
    if (typeof p === 'string') pushString(p, out);
    else if (Array.isArray(p)) for (const x of p) if (typeof x === 'string') pushString(x, out);
  }
}

function pushString(text: string, out: IndexValue[]): void {
  const s: StringIndex = { f: foldString(text), x: text };
  out.push(s);
}

function dateValues(node: TypedValue, out: IndexValue[]): void {
  const v = node.value;
  if (typeof v === 'string') {
    const r = dateRange(v);
    if (r) out.push(r satisfies DateIndex);
    return;
  }
  if (v === null || typeof v !== 'object') return;
  const o = v as Obj;
  if (node.type === 'Period') {
    const period = periodRange(o);
    if (period) out.push(period);
  } else if (node.type === 'Timing') {
    for (const e of Array.isArray(o.event) ? o.event : []) {
      const r = typeof e === 'string' ? dateRange(e) : undefined;
      if (r) out.push(r);
    }
    const bounds = (o.repeat as Obj | undefined)?.boundsPeriod as Obj | undefined;
    const period = bounds ? periodRange(bounds) : undefined;
    if (period) out.push(period);
  }
}

function periodRange(p: Obj): DateIndex | undefined {
  const start = typeof p.start === 'string' ? dateRange(p.start) : undefined;
  const end = typeof p.end === 'string' ? dateRange(p.end) : undefined;
  if (!start && !end) return undefined;
  // An open end means "ongoing": the range runs to the end of time.
  return { lo: start?.lo ?? MIN_DATE_MS, hi: end?.hi ?? MAX_DATE_MS };
}

function numberValues(node: TypedValue, out: IndexValue[]): void {
  const v = node.value;
  if (typeof v === 'number' && Number.isFinite(v)) out.push(numberValueRange(v) satisfies NumberIndex);
}

const QUANTITY_TYPES = new Set(['Quantity', 'Age', 'Duration', 'Distance', 'Count', 'SimpleQuantity', 'MoneyQuantity']);

function quantityValues(node: TypedValue, out: IndexValue[]): void {
  const v = node.value as Obj;
  if (v === null || typeof v !== 'object') return;
  if (QUANTITY_TYPES.has(node.type)) {
    pushQuantity(v, out);
  } else if (node.type === 'Money') {
    if (typeof v.value === 'number' && Number.isFinite(v.value)) {
      const r = numberValueRange(v.value);
      const q: QuantityIndex = { n: r.n, lo: r.lo, hi: r.hi, s: 'urn:iso:std:iso:4217' };
      if (typeof v.currency === 'string') q.c = v.currency;
      out.push(q);
    }
  } else if (node.type === 'Range') {
    for (const end of [v.low, v.high]) if (end && typeof end === 'object') pushQuantity(end as Obj, out);
  }
}

function pushQuantity(q: Obj, out: IndexValue[]): void {
  if (typeof q.value !== 'number' || !Number.isFinite(q.value)) return;
  const r = numberValueRange(q.value);
  const idx: QuantityIndex = { n: r.n, lo: r.lo, hi: r.hi };
  if (typeof q.system === 'string') idx.s = q.system;
  if (typeof q.code === 'string') idx.c = q.code;
  if (typeof q.unit === 'string') idx.u = q.unit;
  out.push(idx);
}

function uriValues(node: TypedValue, out: IndexValue[]): void {
  if (typeof node.value === 'string') out.push({ u: node.value } satisfies UriIndex);
}

/**
 * A composite value per root node (the Observation itself, or each component),
 * so that `code-value-quantity` ties the code and the value of the same node.
 * Components are stored as c0, c1... in the order of the definition.
 */
function extractComposite(def: SearchParamDef, resource: Resource, options: ExtractOptions): IndexValue[] {
  const components = def.components;
  if (!components?.length) return [];
  const roots = def.evaluate(resource);
  const out: IndexValue[] = [];
  for (const root of roots) {
    if (root.value === null || typeof root.value !== 'object') continue;
    const evaluators = componentEvaluators(def, root.path ?? root.type);
    const value: CompositeIndex = {};
    let complete = true;
    for (let i = 0; i < evaluators.length && complete; i++) {
      // R4 composite components may name the whole resource (%resource.referenceSeq.chromosome).
      const values = toIndexValues(components[i]!.type, evaluators[i]!(root.value as object, { resource, rootResource: resource }), options);
      if (values.length === 0) complete = false;
      value[COMPONENT_KEYS[i] ?? `c${i}`] = values;
    }
    if (complete) out.push(value);
  }
  return out;
}

const COMPONENT_KEYS = ['c0', 'c1', 'c2', 'c3'];

const evaluatorsByDef = new WeakMap<SearchParamDef, Map<string, CompiledTypedPath[]>>();

function componentEvaluators(def: SearchParamDef, base: string): CompiledTypedPath[] {
  let byBase = evaluatorsByDef.get(def);
  if (!byBase) evaluatorsByDef.set(def, (byBase = new Map()));
  let list = byBase.get(base);
  if (!list) {
    list = def.components!.map((c) => compileSearchExpression(c.expression, base));
    byBase.set(base, list);
  }
  return list;
}

export function addSortKeys(srt: SortKeys, code: string, type: SearchParamType, values: IndexValue[]): void {
  let lo: string | number | undefined;
  let hi: string | number | undefined;
  for (const v of values) {
    // Only dates have distinct ends; no pair is allocated per value (this runs for every write).
    const a = sortValue(type, v, false);
    const b = type === 'date' ? sortValue(type, v, true) : a;
    if (a === undefined || b === undefined) continue;
    if (lo === undefined || a < lo) lo = a;
    if (hi === undefined || b > hi) hi = b;
  }
  if (lo !== undefined && hi !== undefined) {
    srt[code] = lo;
    srt[descendingKey(code)] = hi;
  }
}

const descendingKeys = new Map<string, string>();

function descendingKey(code: string): string {
  let key = descendingKeys.get(code);
  if (key === undefined) descendingKeys.set(code, (key = `-${code}`));
  return key;
}

function sortValue(type: SearchParamType, v: IndexValue, high: boolean): string | number | undefined {
  switch (type) {
    case 'string': return (v as StringIndex).f;
    case 'token': { const t = v as TokenIndex; return t.c ?? t.t; }
    case 'reference': return (v as ReferenceIndex).r;
    case 'date': { const d = v as DateIndex; return high ? d.hi : d.lo; }
    case 'number': case 'quantity': return (v as NumberIndex).n;
    case 'uri': return (v as UriIndex).u;
    default: return undefined;
  }
}

/** The patient compartments a resource with this index belongs to. */
export function compartmentsOf(resource: Pick<Resource, 'resourceType' | 'id'>, idx: SearchIndex): string[] {
  const comp = new Set<string>();
  if (resource.resourceType === 'Patient' && resource.id) comp.add(`Patient/${resource.id}`);
  for (const code of patientCompartmentParams(resource.resourceType)) {
    for (const v of idx[code] ?? []) {
      const r = (v as ReferenceIndex).r;
      if (typeof r === 'string' && r.startsWith('Patient/') && !r.includes(':')) comp.add(r);
    }
  }
  return [...comp];
}
