import type { CodeSystem, CodeSystemConcept, ValueSet } from '@medplum/fhirtypes';
import type { ValueSetExpansions } from '../element-model-types.js';

interface BundleLike {
  entry?: Array<{ resource?: { resourceType?: string } }>;
}

/**
 * Expands the given value sets from the CodeSystems and ValueSets at hand.
 * A value set that draws on a code system we do not hold (SNOMED CT, LOINC,
 * BCP-47, MIME types...) or on a filter we cannot evaluate is recorded as null:
 * the validator then does not check codes against it rather than refuse good data.
 */
export function buildValueSetExpansions(urls: Iterable<string>, bundles: BundleLike[]): ValueSetExpansions {
  const valueSets = new Map<string, ValueSet>();
  const codeSystems = new Map<string, CodeSystem>();
  for (const bundle of bundles) {
    for (const entry of bundle.entry ?? []) {
      const r = entry.resource;
      if (r?.resourceType === 'ValueSet') valueSets.set((r as ValueSet).url as string, r as ValueSet);
      if (r?.resourceType === 'CodeSystem') codeSystems.set((r as CodeSystem).url as string, r as CodeSystem);
    }
  }
  const out: ValueSetExpansions = {};
  for (const url of urls) out[url] = expandValueSet(url, valueSets, codeSystems, new Set());
  return out;
}

export function expandValueSet(url: string, valueSets: Map<string, ValueSet>, codeSystems: Map<string, CodeSystem>,
  seen: Set<string>): Record<string, string[]> | null {
  const canonical = url.split('|')[0];
  const vs = valueSets.get(canonical);
  if (!vs || seen.has(canonical)) return null;
  seen.add(canonical);
  const result = new Map<string, Set<string>>();
  const add = (system: string, code: string): void => {
    let set = result.get(system);
    if (!set) result.set(system, (set = new Set()));
    set.add(code);
  };
  for (const inc of vs.compose?.include ?? []) {
    let part: Map<string, Set<string>> | null = new Map();
    if (inc.system) {
      const codes = includeCodes(inc.system, inc, codeSystems);
      if (!codes) return fromExpansion(vs);
      part.set(inc.system, codes);
    }
    for (const imported of inc.valueSet ?? []) {
      const sub = expandValueSet(imported, valueSets, codeSystems, seen);
      if (!sub) return fromExpansion(vs);
      part = intersectOrSet(part, sub, !!inc.system);
    }
    for (const [system, codes] of part ?? []) for (const c of codes) add(system, c);
  }
  for (const exc of vs.compose?.exclude ?? []) {
    if (!exc.system) continue;
    for (const c of exc.concept ?? []) result.get(exc.system)?.delete(c.code as string);
  }
  if (!vs.compose) return fromExpansion(vs);
  return Object.fromEntries([...result].map(([s, codes]) => [s, [...codes].sort()]));
}

function intersectOrSet(part: Map<string, Set<string>>, sub: Record<string, string[]>, intersect: boolean): Map<string, Set<string>> {
  if (!intersect && part.size === 0) return new Map(Object.entries(sub).map(([s, c]) => [s, new Set(c)]));
  const out = new Map<string, Set<string>>();
  for (const [system, codes] of part) {
    const allowed = new Set(sub[system] ?? []);
    out.set(system, new Set([...codes].filter((c) => allowed.has(c))));
  }
  return out;
}

function fromExpansion(vs: ValueSet): Record<string, string[]> | null {
  const contains = vs.expansion?.contains;
  if (!contains?.length) return null;
  const out: Record<string, string[]> = {};
  const walk = (items: typeof contains | undefined): void => {
    for (const c of items ?? []) {
      if (c.system && c.code) (out[c.system] ??= []).push(c.code);
      walk(c.contains);
    }
  };
  walk(contains);
  return out;
}

type Include = NonNullable<NonNullable<ValueSet['compose']>['include']>[number];

function includeCodes(system: string, inc: Include, codeSystems: Map<string, CodeSystem>): Set<string> | null {
  if (inc.concept?.length && !inc.filter?.length) return new Set(inc.concept.map((c) => c.code as string));
  const cs = codeSystems.get(system);
  if (!cs?.concept?.length || (cs.content && cs.content !== 'complete')) return null;
  let codes = allCodes(cs.concept);
  for (const f of inc.filter ?? []) {
    if (f.property !== 'concept' || !f.value) return null;
    if (f.op === 'is-a' || f.op === 'descendent-of') {
      const root = findConcept(cs.concept, f.value);
      if (!root) return null;
      const sub = allCodes(root.concept ?? []);
      if (f.op === 'is-a') sub.add(f.value);
      codes = new Set([...codes].filter((c) => sub.has(c)));
    } else if (f.op === 'is-not-a') {
      const root = findConcept(cs.concept, f.value);
      if (!root) return null;
      const sub = allCodes(root.concept ?? []);
      sub.add(f.value);
      codes = new Set([...codes].filter((c) => !sub.has(c)));
    } else {
      return null;
    }
  }
  if (inc.concept?.length) {
    const listed = new Set(inc.concept.map((c) => c.code as string));
    codes = new Set([...codes].filter((c) => listed.has(c)));
  }
  return codes;
}

function allCodes(concepts: CodeSystemConcept[], into = new Set<string>()): Set<string> {
  for (const c of concepts) {
    if (c.code) into.add(c.code);
    if (c.concept) allCodes(c.concept, into);
  }
  return into;
}

function findConcept(concepts: CodeSystemConcept[], code: string): CodeSystemConcept | undefined {
  for (const c of concepts) {
    if (c.code === code) return c;
    const found = c.concept && findConcept(c.concept, code);
    if (found) return found;
  }
  return undefined;
}
