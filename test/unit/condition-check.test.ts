import t from 'tap';
import type { Resource } from '@medplum/fhirtypes';
import { extractIndex } from '../../src/fhir/search/extract.js';
import { parseSearchRequest } from '../../src/fhir/search/parse.js';
import type { VersionRecord } from '../../src/store/engine.js';
import { refuseUnmetCondition, unmetClauses } from '../../src/store/condition-check.js';
import { FhirError } from '../../src/errors.js';

const BASE = 'http://carnet.test/fhir';

/** A version as the repository prepares it: its index extracted from the resource. */
function version(resource: Resource, ts = Date.parse('2026-03-01T10:00:00Z')): VersionRecord {
  const { idx, srt, comp } = extractIndex(resource, { baseUrl: BASE });
  return { type: resource.resourceType, id: resource.id!, vid: 1, ts, lastUpdated: new Date(ts).toISOString(), hk: '', deleted: false, json: JSON.stringify(resource), idx, srt, comp, method: 'POST' };
}

const unmet = async (record: VersionRecord, query: string) =>
  (await unmetClauses(record, parseSearchRequest([record.type], [...new URLSearchParams(query)], { strict: true, defaultCount: 2, maxCount: 2, baseUrl: BASE }))).map((c) => `${c.name}=${c.raw}`);

t.test('each criterion is tested on the version\'s index as a search would test it', async (t) => {
  const patient = version({
    resourceType: 'Patient', id: 'p1', active: true, gender: 'female', birthDate: '1980-04-12',
    identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: 'A' }], name: [{ family: 'Müller-Durand', given: ['Éloïse'] }],
    meta: { tag: [{ system: 'urn:tags', code: 'demo' }] }, generalPractitioner: [{ reference: `${BASE}/Practitioner/gp` }],
  } as Resource);
  const satisfied = [
    'identifier=urn:oid:1.2.250.1.213.1.4.8|A', 'identifier=A', 'name=muller', 'given=ELOISE', 'family:exact=Müller-Durand', 'birthdate=1980',
    'birthdate=ge1980-01-01&birthdate=lt1981', 'gender=female,male', 'gender:not=male', '_id=p1', 'active=true', '_tag=urn:tags|demo',
    'general-practitioner=Practitioner/gp', 'general-practitioner=gp', `general-practitioner=${BASE}/Practitioner/gp`, 'email:missing=true',
    '_lastUpdated=2026-03-01',
  ];
  for (const query of satisfied) t.same(await unmet(patient, query), [], query);
  const refused: Array<[string, string[]]> = [
    ['identifier=urn:oid:1.2.250.1.213.1.4.8|B', ['identifier=urn:oid:1.2.250.1.213.1.4.8|B']],
    ['identifier=urn:other|A', ['identifier=urn:other|A']],
    ['name=durand', ['name=durand']],
    ['family:exact=müller-durand', ['family:exact=müller-durand']],
    ['birthdate=1981&gender=female', ['birthdate=1981']],
    ['gender:not=female&_id=p2', ['gender:not=female', '_id=p2']],
    ['general-practitioner=Practitioner/other', ['general-practitioner=Practitioner/other']],
    ['email:missing=false', ['email:missing=false']],
    ['_lastUpdated=lt2026', ['_lastUpdated=lt2026']],
  ];
  for (const [query, expected] of refused) t.same(await unmet(patient, query), expected, query);
});

t.test('chains and _has are left untested; the criteria beside them are tested', async (t) => {
  const observation = version({ resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' } } as Resource);
  t.same(await unmet(observation, 'subject:Patient.identifier=nobody'), []);
  t.same(await unmet(observation, '_has:Provenance:target:agent=Practitioner/x&status=final'), []);
  t.same(await unmet(observation, '_has:Provenance:target:agent=Practitioner/x&status=amended'), ['status=amended']);
});

t.test('refuseUnmetCondition: 400 FHIR_ERR_STORE_CONDITION_UNMET naming the unmet criteria', async (t) => {
  const patient = version({ resourceType: 'Patient', id: 'p1', identifier: [{ system: 'urn:s', value: 'B' }] } as Resource);
  const request = parseSearchRequest(['Patient'], [['identifier', 'urn:s|A'], ['gender', 'female']], { strict: true, defaultCount: 2, maxCount: 2 });
  const err = await refuseUnmetCondition(patient, 'If-None-Exist', request).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof FhirError);
  t.match(err, { statusCode: 400, code: 'FHIR_ERR_STORE_CONDITION_UNMET', message: /If-None-Exist condition: identifier=urn:s\|A&gender=female\b/ });
  const update = await refuseUnmetCondition(patient, 'conditional update', request).then(() => undefined, (e: unknown) => e);
  t.match(update, { message: /conditional update creates .* does not satisfy its condition/ });
  await t.resolves(refuseUnmetCondition(patient, 'If-None-Exist', parseSearchRequest(['Patient'], [['identifier', 'urn:s|B']], { strict: true, defaultCount: 2, maxCount: 2 })));
});
