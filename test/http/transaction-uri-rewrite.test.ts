import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// http.html#trules: "Servers SHALL replace all matching links in the bundle, whether they are found in
// the resource ids, resource references, elements of type uri, url, oid, uuid, and <a href="" & <img src=""
// in the narrative". A placeholder in an Extension.valueUri was stored as sent (exploratory finding).
t.test('a transaction rewrites an entry\'s fullUrl in every element of type uri or url', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': 'application/fhir+json' };
  const patientUrl = 'urn:uuid:33333333-3333-4333-8333-333333333333';
  const oidUrl = 'urn:oid:1.2.250.1.999.42';
  const extensions = [
    { url: 'https://carnet.test/fhir/StructureDefinition/link-uri', valueUri: patientUrl },
    { url: 'https://carnet.test/fhir/StructureDefinition/link-url', valueUrl: patientUrl },
    { url: 'https://carnet.test/fhir/StructureDefinition/link-uuid', valueUuid: patientUrl },
    { url: 'https://carnet.test/fhir/StructureDefinition/link-oid', valueOid: oidUrl },
    // Nested: an extension's own url is its identity (a plain string), never a link.
    { url: patientUrl, extension: [{ url: 'inner', valueUri: patientUrl }] },
    // Not a link type: a string, an identifier's value and a canonical stay as written.
    { url: 'https://carnet.test/fhir/StructureDefinition/link-string', valueString: patientUrl },
    { url: 'https://carnet.test/fhir/StructureDefinition/link-identifier', valueIdentifier: { system: 'urn:ietf:rfc:3986', value: patientUrl } },
    { url: 'https://carnet.test/fhir/StructureDefinition/link-canonical', valueCanonical: patientUrl },
  ];
  const res = await app.inject({ method: 'POST', url: '/fhir', headers, payload: { resourceType: 'Bundle', type: 'transaction', entry: [
    { fullUrl: patientUrl, resource: { resourceType: 'Patient', name: [{ family: 'U' }] }, request: { method: 'POST', url: 'Patient' } },
    { fullUrl: oidUrl, resource: { resourceType: 'Patient', name: [{ family: 'O' }] }, request: { method: 'POST', url: 'Patient' } },
    { resource: {
      resourceType: 'Basic', code: { text: 'u', coding: [{ system: patientUrl, code: 'x' }] },
      subject: { reference: patientUrl }, author: { reference: '#c1' },
      extension: extensions,
      // A primitive's extensions (`_created`) and a contained resource are walked too.
      created: '2024-01-02', _created: { extension: [{ url: 'https://carnet.test/fhir/StructureDefinition/link-uri', valueUri: patientUrl }] },
      contained: [{ resourceType: 'Organization', id: 'c1', name: 'c', extension: [{ url: 'https://carnet.test/fhir/StructureDefinition/link-uri', valueUri: patientUrl }] }],
      meta: { source: patientUrl },
    }, request: { method: 'POST', url: 'Basic' } },
    { resource: {
      resourceType: 'DocumentReference', status: 'current', subject: { reference: patientUrl },
      identifier: [{ system: 'urn:ietf:rfc:3986', value: patientUrl }],
      content: [{ attachment: { contentType: 'text/plain', url: patientUrl } }],
    }, request: { method: 'POST', url: 'DocumentReference' } },
  ] } });
  t.equal(res.statusCode, 200, res.body.slice(0, 400));
  const [patient, , basic, document] = (res.json().entry as Array<{ response: { location: string } }>).map((e) => e.response.location.split('/_history')[0]!);
  const read = async (location: string) => (await app.inject({ url: `/fhir/${location}`, headers: { authorization } })).json();
  const stored = await read(basic!);
  t.equal(stored.subject.reference, patient, 'a reference (as before)');
  t.equal(stored.extension[0].valueUri, patient, 'Extension.valueUri: the relative Type/id, as a reference gets');
  t.equal(stored.extension[1].valueUrl, patient, 'Extension.valueUrl');
  // A uuid or oid element cannot hold a Type/id (its regex would refuse it, and the transaction with it).
  t.equal(stored.extension[2].valueUuid, patientUrl, 'Extension.valueUuid: kept, a Type/id is no uuid');
  t.equal(stored.extension[3].valueOid, oidUrl, 'Extension.valueOid: kept, a Type/id is no oid');
  t.equal(stored.extension[4].url, patientUrl, 'an extension\'s own url is not a link');
  t.equal(stored.extension[4].extension[0].valueUri, patient, 'a nested extension\'s valueUri');
  t.equal(stored.extension[5].valueString, patientUrl, 'a string is not a link');
  t.equal(stored.extension[6].valueIdentifier.value, patientUrl, 'an identifier\'s value is not a link');
  t.equal(stored.extension[7].valueCanonical, patientUrl, 'a canonical names a resource by its url, which the transaction does not change');
  t.equal(stored.code.coding[0].system, patient, 'Coding.system (uri)');
  t.equal(stored._created.extension[0].valueUri, patient, 'an extension of a primitive');
  t.equal(stored.contained[0].extension[0].valueUri, patient, 'in a contained resource');
  t.equal(stored.meta.source, patient, 'Meta.source (uri)');
  const doc = await read(document!);
  t.equal(doc.content[0].attachment.url, patient, 'Attachment.url (url, as before)');
  t.equal(doc.identifier[0].value, patientUrl, 'Identifier.value (string) is kept: an MHD entryUUID often equals the fullUrl');
});

t.test('a definitional resource keeps its canonical url; a Device\'s url (its address) is a link', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': 'application/fhir+json' };
  const questionnaireUrl = 'urn:uuid:44444444-4444-4444-8444-444444444444';
  const res = await app.inject({ method: 'POST', url: '/fhir', headers, payload: { resourceType: 'Bundle', type: 'transaction', entry: [
    { fullUrl: questionnaireUrl, resource: { resourceType: 'Questionnaire', url: questionnaireUrl, status: 'active' }, request: { method: 'POST', url: 'Questionnaire' } },
    { resource: { resourceType: 'Device', url: questionnaireUrl }, request: { method: 'POST', url: 'Device' } },
  ] } });
  t.equal(res.statusCode, 200, res.body.slice(0, 400));
  const [questionnaire, device] = (res.json().entry as Array<{ response: { location: string } }>).map((e) => e.response.location.split('/_history')[0]!);
  const read = async (location: string) => (await app.inject({ url: `/fhir/${location}`, headers: { authorization } })).json();
  t.equal((await read(questionnaire!)).url, questionnaireUrl, 'Questionnaire.url, its identity, as sent');
  t.equal((await read(device!)).url, questionnaire, 'Device.url (uri) rewritten');
});
