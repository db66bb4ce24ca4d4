import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Resource } from '@medplum/fhirtypes';
import { validateResource, createValidator } from '../../src/fhir/validation/validate.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import { Repository } from '../../src/store/repository.js';

/**
 * Every example of the R4 specification (hl7.fhir.r4.examples@4.0.1) must pass,
 * except these, where the example itself breaks a published rule.
 * Key: file name; value: the FHIRPath location(s) of the expected errors and why.
 */
export const KNOWN_INVALID_EXAMPLES: Record<string, { at: string[]; reason: string }> = {
  'Bundle-dataelements.json': { at: ['Bundle'], reason: 'bdl-7: the same fullUrl appears in several entries' },
  'ImplementationGuide-fhir.json': { at: ['ImplementationGuide.name', 'ImplementationGuide.status'], reason: 'name and status (1..1) missing' },
  'ig-r4.json': { at: ['ImplementationGuide.name', 'ImplementationGuide.status'], reason: 'name and status (1..1) missing' },
  'Questionnaire-qs1.json': { at: ['Questionnaire.item[0].item[0].linkId'], reason: 'nested items lack linkId (1..1)' },
  'Questionnaire-bb.json': { at: ['Questionnaire.item[0].item[1].item[2].item[0].enableWhen[0]'], reason: "que-7: operator 'exists' with a non-boolean answer" },
  'SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json': { at: ['SearchParameter.id'], reason: 'id longer than 64 characters' },
  'DeviceMetric-example.json': { at: ['DeviceMetric.parent'], reason: 'parent is Reference(Device), the example names a DeviceDefinition' },
  'DeviceUseStatement-example.json': { at: ['DeviceUseStatement.reasonReference[0]'], reason: 'reasonReference does not allow a Procedure' },
  'MedicationRequest-medrx0301.json': { at: ['MedicationRequest.dispenseRequest.performer'], reason: 'dispenseRequest.performer is Reference(Organization), the example names a Practitioner' },
  'Observation-clinical-gender.json': { at: ['Observation.performer[0]'], reason: 'performer does not allow an Encounter' },
  'StructureDefinition-Definition.json': { at: ['StructureDefinition'], reason: 'sdf-4: logical pattern not abstract and without baseDefinition' },
  'StructureDefinition-Event.json': { at: ['StructureDefinition'], reason: 'sdf-4: logical pattern not abstract and without baseDefinition' },
  'StructureDefinition-FiveWs.json': { at: ['StructureDefinition'], reason: 'sdf-4: logical pattern not abstract and without baseDefinition' },
  'StructureDefinition-Request.json': { at: ['StructureDefinition'], reason: 'sdf-4: logical pattern not abstract and without baseDefinition' },
};
for (const file of ['ActivityDefinition-blood-tubes-supply.json', 'ActivityDefinition-heart-valve-replacement.json', 'EventDefinition-example.json',
  'Questionnaire-zika-virus-exposure-assessment.json']) {
  const type = file.split('-')[0];
  KNOWN_INVALID_EXAMPLES[file] = { at: [`${type}.text.div`], reason: 'txt-2: the narrative has no content' };
}
for (const name of ['codesystem-extensions-CodeSystem-author', 'codesystem-extensions-CodeSystem-effective', 'codesystem-extensions-CodeSystem-end',
  'codesystem-extensions-CodeSystem-keyword', 'codesystem-extensions-CodeSystem-workflow', 'valueset-extensions-ValueSet-author',
  'valueset-extensions-ValueSet-effective', 'valueset-extensions-ValueSet-end', 'valueset-extensions-ValueSet-keyword', 'valueset-extensions-ValueSet-workflow']) {
  KNOWN_INVALID_EXAMPLES[`SearchParameter-${name}.json`] = { at: ['SearchParameter.base'], reason: 'base (1..*) missing' };
}

/**
 * The specification's own definition bundles (every StructureDefinition, ValueSet,
 * SearchParameter... of R4, 2 to 30 MB each) take most of the time; their content
 * also ships as individual files, which are validated. CARNET_ALL_EXAMPLES=1 runs them too.
 */
const DEFINITION_BUNDLES = new Set(['Bundle-dataelements.json', 'Bundle-resources.json', 'Bundle-types.json', 'Bundle-extensions.json',
  'Bundle-profiles-others.json', 'Bundle-valuesets.json', 'Bundle-v2-valuesets.json', 'Bundle-v3-valuesets.json',
  'Bundle-valueset-expansions.json', 'Bundle-searchParams.json', 'Bundle-conceptmaps.json', 'Bundle-terminologies.json']);
const all = process.env.CARNET_ALL_EXAMPLES === '1';
t.setTimeout(all ? 900_000 : 300_000);

let dir: string | undefined;
try {
  dir = path.dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));
} catch {
  dir = undefined;
}

/** The examples the validator accepted, created for real in the next test. */
const accepted: Resource[] = [];

t.test('every R4 example validates, except the known invalid ones', { skip: !dir || !existsSync(dir) ? 'hl7.fhir.r4.examples is not installed' : false }, async (t) => {
  const files = readdirSync(dir as string).filter((f) => f.endsWith('.json') && f !== 'package.json' && !f.startsWith('.'));
  let passed = 0;
  const unexpected: string[] = [];
  for (const file of files) {
    if (!all && DEFINITION_BUNDLES.has(file)) continue;
    const resource = JSON.parse(readFileSync(path.join(dir as string, file), 'utf8'));
    if (!resource?.resourceType) continue;
    const errors = validateResource(resource).filter((i) => i.severity === 'error' || i.severity === 'fatal');
    const known = KNOWN_INVALID_EXAMPLES[file];
    if (known && (all || !DEFINITION_BUNDLES.has(file))) {
      const at = new Set(errors.map((e) => e.expression?.[0]));
      t.ok(known.at.every((a) => at.has(a)), `${file} still fails where known (${known.reason})`);
      continue;
    }
    if (errors.length === 0) {
      passed++;
      accepted.push(resource as Resource);
    }
    else unexpected.push(`${file}: ${errors.slice(0, 3).map((e) => e.diagnostics).join(' | ')}`);
  }
  t.same(unexpected, [], 'no unexpected error');
  t.ok(passed > 5000, 'examples checked');
  t.comment(`${passed} examples valid, ${Object.keys(KNOWN_INVALID_EXAMPLES).length} known invalid${all ? '' : `, ${DEFINITION_BUNDLES.size} definition bundles skipped`}`);
});

t.test('valid R4 examples, of every type, are accepted by create (validation, indexing, durable commit)', { skip: !dir || !existsSync(dir) ? 'hl7.fhir.r4.examples is not installed' : false }, async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'carnet-examples-'));
  const engine = createEmbeddedEngine({ dataDir });
  await engine.open();
  t.teardown(async () => {
    await engine.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const validator = createValidator();
  const repository = new Repository({ engine, validate: (r, mode) => validator.assertValid(r, { mode }), search: { defaultCount: 20, maxCount: 100 } });
  const refused: string[] = [];
  let created = 0;
  // Every type's first example and one in four of the rest (CARNET_ALL_EXAMPLES=1: all of them): creating
  // them all doubled the test's time, for a path (indexing, commit) that does not vary by example.
  const seen = new Set<string>();
  const chosen = all ? accepted : accepted.filter((r, i) => (seen.has(r.resourceType) ? i % 4 === 0 : (seen.add(r.resourceType), true)));
  for (let i = 0; i < chosen.length; i += 250) {
    const batch = [];
    for (const resource of chosen.slice(i, i + 250)) {
      try {
        batch.push(await repository.prepareCreate(resource));
      } catch (err) {
        refused.push(`${resource.resourceType}/${resource.id}: ${(err as Error).message}`);
      }
    }
    await repository.commit(batch);
    created += batch.length;
  }
  t.same(refused, [], 'create refuses none of the valid examples');
  const sample = accepted.find((r) => r.resourceType === 'Observation');
  t.ok(sample && (await engine.find({ types: ['Observation'], filter: {}, sort: [['id', 1]], limit: 1 })).length === 1, 'they are stored and searchable');
  t.comment(`${created} examples created`);
});
