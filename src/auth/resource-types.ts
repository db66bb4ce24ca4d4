import r4 from 'fhirpath/fhir-context/r4';

/**
 * The R4 resource type names, taken from the FHIRPath R4 model (already loaded
 * for search index extraction) rather than retyped: every type whose ancestry
 * reaches Resource, minus the two abstract bases.
 */
function resourceTypesOf(type2Parent: Record<string, string>): ReadonlySet<string> {
  const names = new Set<string>();
  for (const name of Object.keys(type2Parent)) {
    let parent: string | undefined = type2Parent[name];
    while (parent && parent !== 'Resource') parent = type2Parent[parent];
    if (parent === 'Resource' && name !== 'DomainResource') names.add(name);
  }
  return names;
}

export const RESOURCE_TYPES: ReadonlySet<string> = resourceTypesOf(r4.type2Parent as Record<string, string>);

export function isResourceType(name: string): boolean {
  return RESOURCE_TYPES.has(name);
}
