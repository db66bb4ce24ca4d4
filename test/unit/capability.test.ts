import t from 'tap';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import { buildCapabilityStatement, capabilityResources, capabilityStatementText, prebuiltCapabilityResources } from '../../src/fhir/capability.js';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { parseSearchRequest } from '../../src/fhir/search/parse.js';

// The server answers /metadata from what `npm run build` wrote; this is what keeps the two from drifting apart.
t.test('the per-type part the build wrote is what the search registry gives now', async (t) => {
  t.same(prebuiltCapabilityResources(), capabilityResources());
});

t.test('every resource type is listed with its interactions and search parameters, profiles included', async (t) => {
  const resources = prebuiltCapabilityResources();
  t.same(resources.map((r) => r.type), [...RESOURCE_TYPES]);
  const byType = new Map(resources.map((r) => [r.type, r]));
  const observation = byType.get('Observation')!;
  t.same(observation.interaction?.map((i) => i.code), ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type']);
  t.match(observation.searchParam?.find((p) => p.name === 'patient'), { type: 'reference', definition: 'http://hl7.org/fhir/SearchParameter/clinical-patient' });
  t.ok(observation.searchInclude?.includes('Observation:subject'));
  // fhir-profiles/SearchParameter-mhd-document-reference-creation.json (IHE MHD)
  t.ok(byType.get('DocumentReference')!.searchParam?.some((p) => p.name === 'creation' && p.type === 'date'));
});

t.test('the statement carries the server-level parts around the prepared resources', async (t) => {
  const resources = [{ type: 'Patient' as const, interaction: [{ code: 'read' as const }] }];
  const statement = buildCapabilityStatement({
    fhirBase: 'https://example.org/fhir', publicUrl: 'https://example.org', software: { name: 'carnet', version: '1' },
    oauth: { token: 'https://example.org/auth/token' },
  }, resources);
  t.equal(statement.rest?.[0]?.resource, resources);
  t.equal(statement.implementation?.url, 'https://example.org/fhir');
  t.same(statement.rest?.[0]?.security?.extension?.[0]?.extension, [{ url: 'token', valueUri: 'https://example.org/auth/token' }]);
});

t.test('the statement as text holds the prepared per-type part, as the statement built from it would', async (t) => {
  const options = {
    fhirBase: 'https://example.org/fhir', publicUrl: 'https://example.org', software: { name: 'carnet', version: '1' },
    oauth: { token: 'https://example.org/auth/token' },
  };
  const fromText = JSON.parse(capabilityStatementText(options)) as CapabilityStatement;
  const built = JSON.parse(JSON.stringify(buildCapabilityStatement(options, prebuiltCapabilityResources()))) as CapabilityStatement;
  t.ok(Date.parse(fromText.date!) >= Date.parse(built.date!) - 60_000, 'dated when built');
  t.same({ ...fromText, date: undefined }, { ...built, date: undefined });
  t.equal(fromText.rest?.[0]?.resource?.length, RESOURCE_TYPES.length);
});

t.test('every search parameter the statement offers is one the search parser understands', async (t) => {
  const sample: Record<string, string> = { token: 'x', string: 'x', date: '2020', reference: 'Patient/1', quantity: '5', number: '5', uri: 'http://x.org', composite: 'x$5', special: 'x' };
  const unknown: string[] = [];
  for (const resource of prebuiltCapabilityResources()) {
    for (const param of resource.searchParam ?? []) {
      try {
        parseSearchRequest([resource.type], [[param.name, sample[param.type] ?? 'x']], { strict: true, defaultCount: 20, maxCount: 100 });
      } catch (err) {
        if (/Unknown search parameter/.test((err as Error).message)) unknown.push(`${resource.type}?${param.name}`);
      }
    }
  }
  t.same(unknown, [], 'no parameter offered is refused as unknown');
  const patient = prebuiltCapabilityResources().find((r) => r.type === 'Patient')!;
  for (const name of ['_text', '_content', '_query', '_list']) t.notOk(patient.searchParam?.some((p) => p.name === name), `${name} is not offered`);
  t.ok(patient.searchParam?.some((p) => p.name === '_lastUpdated') && patient.searchParam?.some((p) => p.name === '_tag'), '_lastUpdated and _tag are');
});
