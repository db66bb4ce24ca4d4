/**
 * Profile invariants evaluated natively, because they run on every vital sign
 * written and fhirpath.js costs 30-80 µs per evaluation. Each is the exact
 * meaning of the FHIRPath expression kept in the StructureDefinition (which
 * other validators use); test/unit/validation-profiles.test.ts checks both agree.
 */
type Json = Record<string, unknown>;

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';

function list(v: unknown): unknown[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function hasLoinc(concept: unknown, code: string): boolean {
  return list((concept as Json | undefined)?.coding).some((c) => (c as Json)?.system === LOINC && (c as Json)?.code === code);
}

function valueOf(node: Json): unknown[] {
  const out: unknown[] = [];
  for (const key in node) if (key.startsWith('value') && /^[A-Z]/.test(key.slice(5))) out.push(...list(node[key]));
  return out;
}

function componentIn(obs: Json, code: string): boolean {
  return list(obs.component).some((c) => hasLoinc((c as Json)?.code, code) && valueOf(c as Json).some((v) => (v as Json)?.code === 'mm[Hg]'));
}

export const NATIVE_PROFILE_INVARIANTS: Record<string, (node: unknown) => boolean | undefined> = {
  'carnet-vs-1': (node) => {
    const obs = node as Json;
    if (!hasLoinc(obs.code, '85354-9')) return true;
    return componentIn(obs, '8480-6') && componentIn(obs, '8462-4');
  },
  'carnet-vs-2': (node) => {
    const obs = node as Json;
    const quantity = obs.valueQuantity as Json | undefined;
    const values = valueOf(obs);
    if (!values.length) return true;
    return quantity !== undefined && quantity.system === UCUM && quantity.code !== undefined;
  },
  // R4 vital-signs: ($this as dateTime).toString().length() >= 8 — a dateTime has at least year and month
  'vs-1': (node) => (typeof node === 'string' ? node.length >= 8 : true),
};
