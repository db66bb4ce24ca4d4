import t from 'tap';
import type { Bundle, DocumentReference, List } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';
import { INS_NIR, provideBundle } from '../fixtures/mhd/provide-bundle.js';

const FHIR = 'application/fhir+json';
const DESIGNATION_TYPE = 'https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType';
const SOURCE_ID = 'https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const FORMAT = 'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode';

t.test('ITI-67 and ITI-66: searches over documents submitted through ITI-65', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': FHIR };
  const put = async (resource: Record<string, unknown>) => {
    const res = await app.inject({ method: 'PUT', url: `/fhir/${String(resource.resourceType)}/${String(resource.id)}`, headers, payload: resource });
    if (res.statusCode >= 300) throw new Error(res.body);
  };
  await put({ resourceType: 'Practitioner', id: 'dr-martin', name: [{ family: 'Martin', given: ['Jean'] }] });
  await put({ resourceType: 'Practitioner', id: 'dr-lefevre', name: [{ family: 'Lefevre', given: ['Claire'] }] });
  await put({ resourceType: 'Patient', id: 'p1', identifier: [{ system: INS_NIR, value: '285017512345678' }], name: [{ family: 'Durand' }] });
  await put({ resourceType: 'Encounter', id: 'enc1', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: 'Patient/p1' } });
  await put({ resourceType: 'Patient', id: 'p2', identifier: [{ system: INS_NIR, value: '190022B12345612' }], name: [{ family: 'Petit' }] });

  // Submission 1 (p1): A consultation report by Martin; B laboratory report by Lefevre, restricted, other facility, event and format.
  const s1 = provideBundle('Patient/p1', [
    { type: '11488-4', classCode: '10', date: '2024-03-01T10:00:00+01:00', creation: '2024-03-01T09:00:00+01:00', author: 'Practitioner/dr-martin' },
    { type: '11502-2', classCode: '11', date: '2024-06-15T10:00:00+02:00', creation: '2024-06-10T08:00:00+02:00', author: 'Practitioner/dr-lefevre' },
  ]);
  const docsOf = (b: Bundle) => b.entry!.filter((e) => e.resource?.resourceType === 'DocumentReference').map((e) => e.resource as DocumentReference);
  const [a, b] = docsOf(s1) as [DocumentReference, DocumentReference];
  a.identifier = [{ system: 'urn:ietf:rfc:3986', value: 'urn:uuid:5a1d3c7e-0000-4000-8000-0000000000aa' }];
  a.context = { ...a.context, period: { start: '2024-02-20', end: '2024-02-28' }, event: [{ coding: [{ system: 'http://snomed.info/sct', code: '11429006' }] }] };
  b.securityLabel = [{ coding: [{ system: CONFIDENTIALITY, code: 'R' }] }];
  b.context = {
    facilityType: { coding: [{ system: 'urn:oid:1.2.250.1.213.1.1.4.9', code: 'SA07' }] },
    practiceSetting: { coding: [{ system: 'urn:oid:1.2.250.1.213.1.1.4.10', code: 'AMBULATOIRE' }] },
    event: [{ coding: [{ system: 'http://snomed.info/sct', code: '15220000' }] }],
    related: [{ reference: 'Encounter/enc1' }],
    period: { start: '2024-06-01', end: '2024-06-14' },
  };
  b.content[0]!.format = { system: FORMAT, code: 'urn:ihe:lab:xd-lab:2008' };
  const list1 = s1.entry[0]!.resource as List;
  list1.extension!.push({ url: DESIGNATION_TYPE, valueCodeableConcept: { coding: [{ system: 'http://loinc.org', code: '34133-9' }] } });
  list1.date = '2024-06-15T10:05:00+02:00';

  // Submission 2 (p2): C imaging report by Martin, another source.
  const s2 = provideBundle('Patient/p2', [{ type: '18748-4', classCode: '31', date: '2025-01-10T10:00:00+01:00', creation: '2025-01-09T10:00:00+01:00', author: 'Practitioner/dr-martin' }]);
  const [c] = docsOf(s2) as [DocumentReference];
  const list2 = s2.entry[0]!.resource as List;
  list2.extension = [{ url: SOURCE_ID, valueIdentifier: { value: 'urn:oid:1.2.250.1.999.8' } }];
  list2.date = '2025-01-10T10:05:00+01:00';
  list2.source = { reference: 'Practitioner/dr-lefevre' };

  const submit = async (bundle: Bundle) => {
    const res = await app.inject({ method: 'POST', url: '/fhir', headers, payload: bundle });
    if (res.statusCode !== 200) throw new Error(res.body);
    return (res.json() as Bundle).entry!.map((e) => e.response!.location!.split('/_history')[0]!.split('/')[1]!);
  };
  const [l1, idA, idB] = await submit(s1);
  const [l2, idC] = await submit(s2);
  // Submission 3 (p1): D replaces A, so A becomes superseded.
  const s3 = provideBundle('Patient/p1', [{ type: '11488-4', date: '2024-09-01T10:00:00+02:00', creation: '2024-09-01T09:00:00+02:00', author: 'Practitioner/dr-martin', relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${idA}` } }] }]);
  const [l3, idD] = await submit(s3);
  const [d] = docsOf(s3) as [DocumentReference];

  const search = async (query: string) => {
    const res = await app.inject({ url: `/fhir/${query}`, headers: { authorization } });
    if (res.statusCode !== 200) t.fail(`${query}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    return ((res.json() as Bundle).entry ?? []).filter((e) => e.search?.mode !== 'include' && e.search?.mode !== 'outcome').map((e) => e.resource!);
  };
  const ids = async (query: string) => (await search(query)).map((r) => r.id!).sort();
  const set = (...values: Array<string | undefined>) => values.map(String).sort();

  t.test('ITI-67 DocumentReference queries', async (t) => {
    const cases: Array<[string, string[]]> = [
      ['patient=Patient/p1', set(idA, idB, idD)],
      ['patient=p2', set(idC)],
      [`patient.identifier=${encodeURIComponent(`${INS_NIR}|285017512345678`)}`, set(idA, idB, idD)],
      [`patient.identifier=${encodeURIComponent(`${INS_NIR}|190022B12345612`)}`, set(idC)],
      [`patient.identifier=${encodeURIComponent('urn:oid:1.2.250.1.213.1.4.9|285017512345678')}`, []],
      ['patient=p1&status=current', set(idB, idD)],
      ['patient=p1&status=superseded', set(idA)],
      ['patient=p1&status=current,superseded', set(idA, idB, idD)],
      [`type=${encodeURIComponent('http://loinc.org|11488-4')}`, set(idA, idD)],
      ['type=18748-4', set(idC)],
      [`category=${encodeURIComponent('https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument|11')}`, set(idB)],
      ['date=ge2024-06-01', set(idB, idC, idD)],
      ['date=lt2024-06-01', set(idA)],
      ['date=ge2024-06-01&date=lt2025-01-01', set(idB, idD)],
      ['date=2024-06-15', set(idB)],
      ['period=ge2024-06-01', set(idB)],
      ['period=le2024-03-01', set(idA)],
      // eq on a period: the search day must contain the whole period, a month does.
      ['period=2024-02-25', []],
      ['period=2024-02', set(idA)],
      ['creation=ge2024-06-01&creation=lt2025-01-01', set(idB, idD)],
      ['creation=gt2025-01-01', set(idC)],
      ['creation=2024-03-01', set(idA)],
      [`identifier=${encodeURIComponent(a.masterIdentifier!.value!)}`, set(idA)],
      [`identifier=${encodeURIComponent(`urn:ietf:rfc:3986|${c.masterIdentifier!.value!}`)}`, set(idC)],
      [`identifier=${encodeURIComponent('urn:uuid:5a1d3c7e-0000-4000-8000-0000000000aa')}`, set(idA)],
      [`security-label=${encodeURIComponent(`${CONFIDENTIALITY}|R`)}`, set(idB)],
      [`security-label=${encodeURIComponent(`${CONFIDENTIALITY}|N`)}`, set(idA, idC, idD)],
      [`format=${encodeURIComponent(`${FORMAT}|urn:ihe:lab:xd-lab:2008`)}`, set(idB)],
      [`format=${encodeURIComponent('urn:ihe:iti:xds:2017:mimeTypeSufficient')}`, set(idA, idC, idD)],
      // R4 `related` is context.related; the replacement link is `relatesto`.
      ['related=Encounter/enc1', set(idB)],
      [`relatesto=DocumentReference/${idA}`, set(idD)],
      ['author.family=Lefevre', set(idB)],
      ['author.given=Jean', set(idA, idC, idD)],
      ['author.family=Martin&patient=p2', set(idC)],
      ['author.family=Nobody', []],
      ['facility=SA07', set(idB)],
      [`facility=${encodeURIComponent('urn:oid:1.2.250.1.213.1.1.4.9|SA01')}`, set(idA, idC, idD)],
      ['setting=AMBULATOIRE', set(idB)],
      [`event=${encodeURIComponent('http://snomed.info/sct|11429006')}`, set(idA)],
      ['event=15220000', set(idB)],
    ];
    for (const [query, expected] of cases) t.same(await ids(`DocumentReference?${query}`), expected, query);
    t.same((await ids('DocumentReference?_id=' + idD)), [idD]);
    t.equal(d.relatesTo![0]!.code, 'replaces');
  });

  t.test('ITI-67 through POST _search', async (t) => {
    const res = await app.inject({
      method: 'POST', url: '/fhir/DocumentReference/_search', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `patient.identifier=${encodeURIComponent(`${INS_NIR}|285017512345678`)}&status=current`,
    });
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
    t.same(((res.json() as Bundle).entry ?? []).map((e) => e.resource!.id).sort(), set(idB, idD));
  });

  t.test('ITI-66 List (SubmissionSet) queries', async (t) => {
    const submissionset = encodeURIComponent('https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset');
    const cases: Array<[string, string[]]> = [
      ['patient=p1', set(l1, l3)],
      [`patient.identifier=${encodeURIComponent(`${INS_NIR}|190022B12345612`)}`, set(l2)],
      [`code=${submissionset}`, set(l1, l2, l3)],
      [`code=${encodeURIComponent('https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|folder')}`, []],
      [`patient=p1&code=${submissionset}&status=current`, set(l1, l3)],
      ['status=retired', []],
      ['date=ge2025-01-01', set(l2)],
      ['date=lt2024-06-01', set(l3)],
      ['date=2024-06-15', set(l1)],
      [`identifier=${encodeURIComponent(list2.identifier![0]!.value!)}`, set(l2)],
      [`identifier=${encodeURIComponent(`urn:ietf:rfc:3986|${list1.identifier![1]!.value!}`)}`, set(l1)],
      [`designationType=${encodeURIComponent('http://loinc.org|34133-9')}`, set(l1)],
      ['sourceId=urn:oid:1.2.250.1.999.8', set(l2)],
      ['sourceId=urn:oid:1.2.250.1.999.7', set(l1, l3)],
      ['source.family=Lefevre', set(l2)],
      ['source.given=Jean', set(l1, l3)],
    ];
    for (const [query, expected] of cases) t.same(await ids(`List?${query}`), expected, query);
  });

  t.test('every attachment url in results is absolute and works for ITI-68', async (t) => {
    const found = (await search('DocumentReference?patient.identifier=' + encodeURIComponent(`${INS_NIR}|285017512345678`))) as DocumentReference[];
    t.equal(found.length, 3);
    const sources = new Map([[idA, a], [idB, b], [idD, d]].map(([id, doc]) => [id as string, doc as DocumentReference]));
    const binaries = new Map(s1.entry.concat(s3.entry).filter((e) => e.resource?.resourceType === 'Binary').map((e) => [e.fullUrl!, e.resource as { data: string; contentType: string }]));
    for (const doc of found) {
      const url = doc.content[0]!.attachment.url!;
      t.match(url, /^http:\/\/carnet\.test\/fhir\/Binary\/[A-Za-z0-9\-.]+$/, `absolute: ${url}`);
      const res = await app.inject({ url: new URL(url).pathname, headers: { authorization } });
      t.equal(res.statusCode, 200);
      const submitted = binaries.get(sources.get(doc.id!)!.content[0]!.attachment.url!)!;
      t.equal(res.headers['content-type'], submitted.contentType);
      t.same(res.rawPayload, Buffer.from(submitted.data, 'base64'), 'the submitted bytes');
    }
  });
});
