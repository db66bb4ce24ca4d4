import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

const FHIR = 'application/fhir+json';
const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
const patient = {
  resourceType: 'Patient',
  meta: { tag: [{ system: 'urn:test', code: 'kept' }] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Hélène Durand</div>' },
  name: [{ family: 'Durand', given: ['Hélène'] }], gender: 'female', birthDate: '1980-02-14',
  contact: [{ name: { family: 'Martin' } }],
};

type Tagged = { meta?: { tag?: Array<{ system?: string; code?: string }> } };
const isSubsetted = (r: Tagged) => (r.meta?.tag ?? []).some((c) => c.system === SUBSETTED.system && c.code === SUBSETTED.code);

t.test('_summary and _elements on read and vread (http.html#read)', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const created = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': FHIR }, payload: patient });
  const id = created.json().id as string;
  const updated = await app.inject({ method: 'PUT', url: `/fhir/Patient/${id}`, headers: { authorization, 'content-type': FHIR }, payload: { ...patient, id, gender: 'other' } });
  t.equal(updated.statusCode, 200);
  const lastModified = updated.headers['last-modified'];
  const read = (url: string) => app.inject({ url, headers: { authorization } });

  t.test('_summary=true keeps the summary elements and tags SUBSETTED', async (t) => {
    const res = await read(`/fhir/Patient/${id}?_summary=true`);
    t.equal(res.statusCode, 200);
    const body = res.json();
    t.equal(body.id, id);
    t.equal(body.gender, 'other');
    t.same(body.name, patient.name);
    t.notOk('text' in body, 'the narrative is not a summary element');
    t.notOk('contact' in body, 'contact is not a summary element');
    t.ok(isSubsetted(body));
    t.ok(body.meta.tag.some((c: { code: string }) => c.code === 'kept'), 'the resource\'s own tags stay');
    t.equal(body.meta.versionId, '2');
    t.equal(res.headers.etag, 'W/"2"', 'the ETag is the version\'s');
    t.equal(res.headers['last-modified'], lastModified);
    t.match(res.headers['content-type'], /^application\/fhir\+json/);
  });

  t.test('_elements keeps the named elements, id and meta', async (t) => {
    const res = await read(`/fhir/Patient/${id}?_elements=gender`);
    t.equal(res.statusCode, 200);
    const body = res.json();
    t.same(Object.keys(body).sort(), ['gender', 'id', 'meta', 'resourceType']);
    t.ok(isSubsetted(body));
    t.equal(res.headers.etag, 'W/"2"');
    const two = await read(`/fhir/Patient/${id}?_elements=gender&_elements=Patient.birthDate,Observation.code`);
    t.same(Object.keys(two.json()).sort(), ['birthDate', 'gender', 'id', 'meta', 'resourceType'], 'repeated _elements add up; Type.name applies to its type only');
  });

  t.test('_summary=text keeps the narrative and mandatory elements, data drops it', async (t) => {
    const text = (await read(`/fhir/Patient/${id}?_summary=text`)).json();
    t.same(Object.keys(text).sort(), ['id', 'meta', 'resourceType', 'text']);
    t.ok(isSubsetted(text));
    const data = (await read(`/fhir/Patient/${id}?_summary=data`)).json();
    t.notOk('text' in data);
    t.same(data.contact, patient.contact);
    t.ok(isSubsetted(data));
  });

  t.test('_summary=false is the full resource', async (t) => {
    const full = await read(`/fhir/Patient/${id}`);
    const res = await read(`/fhir/Patient/${id}?_summary=false`);
    t.equal(res.statusCode, 200);
    t.same(res.json(), full.json());
    t.notOk(isSubsetted(res.json()));
  });

  t.test('vread: the same, on the version asked for', async (t) => {
    const res = await read(`/fhir/Patient/${id}/_history/1?_summary=true`);
    t.equal(res.statusCode, 200);
    const body = res.json();
    t.equal(body.gender, 'female');
    t.equal(body.meta.versionId, '1');
    t.notOk('text' in body);
    t.ok(isSubsetted(body));
    t.equal(res.headers.etag, 'W/"1"');
    const elements = (await read(`/fhir/Patient/${id}/_history/1?_elements=birthDate`)).json();
    t.same(Object.keys(elements).sort(), ['birthDate', 'id', 'meta', 'resourceType']);
    t.ok(isSubsetted(elements));
  });

  t.test('_summary=count and invalid values: 400 OperationOutcome, as on search', async (t) => {
    for (const url of [
      `/fhir/Patient/${id}?_summary=count`,
      `/fhir/Patient/${id}/_history/1?_summary=count`,
      `/fhir/Patient/${id}?_summary=maybe`,
      `/fhir/Patient/${id}?_summary=`,
      `/fhir/Patient/${id}/_history/2?_summary=TRUE`,
      `/fhir/Patient/${id}?_elements=name.family`,
    ]) {
      const res = await read(url);
      t.equal(res.statusCode, 400, url);
      t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] }, url);
    }
    const search = await read('/fhir/Patient?_summary=maybe');
    t.equal(search.statusCode, 400, 'search refuses the same value');
  });

  t.test('a read without these parameters is untouched', async (t) => {
    const res = await read(`/fhir/Patient/${id}?_format=json`);
    t.equal(res.statusCode, 200);
    t.same(res.json().contact, patient.contact);
    t.notOk(isSubsetted(res.json()));
  });
});
