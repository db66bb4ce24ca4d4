import type { ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';
import type { ConstraintInfo, ElementInfo, ElementModel, TypeModel } from '../element-model-types.js';

const BEST_PRACTICE = 'http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice';

interface BundleLike {
  entry?: Array<{ resource?: { resourceType?: string } }>;
}

/**
 * Reduces R4 StructureDefinitions (resources and data types) to what the
 * validator walks: per type, each element's cardinality, types, required
 * binding and FHIRPath constraints, keyed by path relative to the type.
 */
export function buildElementModel(bundles: BundleLike[]): ElementModel {
  const types: Record<string, TypeModel> = {};
  const requiredValueSets = new Set<string>();
  for (const bundle of bundles) {
    for (const entry of bundle.entry ?? []) {
      const sd = entry.resource as StructureDefinition | undefined;
      if (sd?.resourceType !== 'StructureDefinition' || !sd.snapshot?.element) continue;
      if (sd.derivation === 'constraint' || sd.kind === 'logical') continue;
      const model = toTypeModel(sd, requiredValueSets);
      if (model) types[sd.type as string] = model;
    }
  }
  keepKnownTargets(types);
  return { types, requiredValueSets: [...requiredValueSets].sort() };
}

/**
 * A Reference's targets are kept only when each names a resource type: a
 * target given as a profile rather than a type (none in R4's own definitions)
 * would make the check refuse what the profile allows, so it is dropped.
 */
function keepKnownTargets(types: Record<string, TypeModel>): void {
  for (const model of Object.values(types)) {
    for (const info of Object.values(model.elements)) {
      if (info.targets && !info.targets.every((t) => types[t]?.kind === 'resource')) delete info.targets;
    }
  }
}

export function toTypeModel(sd: StructureDefinition, requiredValueSets: Set<string>): TypeModel | undefined {
  const elements: Record<string, ElementInfo> = {};
  const root = sd.snapshot?.element?.[0]?.path;
  if (!root) return undefined;
  for (const ed of sd.snapshot?.element ?? []) {
    const rel = relativePath(ed.path as string, root);
    const info = toElementInfo(ed, root, requiredValueSets);
    // Slices in a constraint snapshot share their path; the base definition has none.
    if (elements[rel] && ed.sliceName) continue;
    elements[rel] = info;
  }
  return { kind: sd.kind as TypeModel['kind'], elements };
}

export function relativePath(path: string, root: string): string {
  return path === root ? '' : path.slice(root.length + 1);
}

export function toElementInfo(ed: ElementDefinition, root: string, requiredValueSets: Set<string>): ElementInfo {
  const name = (ed.path as string).split('.').pop() as string;
  const info: ElementInfo = {
    min: ed.min ?? 0,
    max: ed.max === '*' ? -1 : Number(ed.max ?? '1'),
    types: (ed.type ?? []).map((t) => typeCode(t.code as string)),
  };
  if (name.endsWith('[x]')) info.choice = true;
  if (ed.contentReference) info.contentReference = relativePath(ed.contentReference.replace(/^.*#/, ''), root);
  const targets = referenceTargets(ed);
  if (targets) info.targets = targets;
  if (ed.binding?.strength === 'required' && ed.binding.valueSet) {
    info.binding = ed.binding.valueSet.split('|')[0];
    requiredValueSets.add(info.binding);
  }
  const constraints: ConstraintInfo[] = [];
  for (const c of ed.constraint ?? []) {
    if (!c.expression || !c.key) continue;
    if (c.extension?.some((e) => e.url === BEST_PRACTICE && e.valueBoolean)) continue;
    // Constraints inherited from Element/Extension/Resource are checked natively (see invariants.ts).
    constraints.push({ key: c.key, severity: c.severity === 'warning' ? 'warning' : 'error', human: c.human ?? c.key, expression: c.expression });
  }
  if (constraints.length) info.constraints = constraints;
  return info;
}

/** The type names of a Reference's `targetProfile`s; undefined when any resource will do (`Resource`, or none given). */
function referenceTargets(ed: ElementDefinition): string[] | undefined {
  const references = (ed.type ?? []).filter((t) => t.code === 'Reference');
  if (!references.length) return undefined;
  const names = new Set<string>();
  for (const t of references) {
    if (!t.targetProfile?.length) return undefined;
    for (const url of t.targetProfile) {
      const name = url.startsWith('http://hl7.org/fhir/StructureDefinition/') ? url.slice('http://hl7.org/fhir/StructureDefinition/'.length) : '';
      if (!name || name === 'Resource') return undefined;
      names.add(name);
    }
  }
  return [...names].sort();
}

/** Primitive system types (http://hl7.org/fhirpath/System.String) appear as the type of `id`/`value` elements. */
function typeCode(code: string): string {
  if (code.startsWith('http://hl7.org/fhirpath/System.')) return 'System.' + code.slice('http://hl7.org/fhirpath/System.'.length);
  return code;
}
