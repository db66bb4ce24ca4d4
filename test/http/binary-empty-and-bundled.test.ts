import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

const FHIR = 'application/fhir+json';
const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };

type Tagged = { meta?: { tag?: Array<{ system?: string; code?: string }> } };
const subsettedTags = (r: Tagged) => (r.meta?.tag ?? []).filter((c) => c.system === SUBSETTED.system && c.code === SUBSETTED.code).length;

t.test('a zero-byte Binary has no data in FHIR JSON (json.html: no empty strings)', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const created = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'application/pdf' }, payload: Buffer.alloc(0) });
  t.equal(created.statusCode, 201);
  const id = created.json().id as string;
  t.notOk('data' in created.json(), 'not in the create answer either');

  for (const [label, url, headers] of [
    ['Accept FHIR JSON', `/fhir/Binary/${id}`, { accept: FHIR }],
    ['_format=json', `/fhir/Binary/${id}?_format=json`, {}],
    ['vread', `/fhir/Binary/${id}/_history/1`, { accept: FHIR }],
  ] as const) {
    const res = await app.inject({ url, headers: { authorization, ...headers } });
    t.equal(res.statusCode, 200, label);
    const body = res.json();
    t.match(body, { resourceType: 'Binary', id, contentType: 'application/pdf' }, label);
    t.notOk('data' in body, `${label}: no data`);
  }

  const raw = await app.inject({ url: `/fhir/Binary/${id}`, headers: { authorization } });
  t.equal(raw.statusCode, 200);
  t.equal(raw.headers['content-length'], '0');
  t.equal(raw.headers['content-type'], 'application/pdf');
  t.equal(raw.body, '');

  const full = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'text/plain' }, payload: Buffer.from('a') });
  const one = await app.inject({ url: `/fhir/Binary/${full.json().id}`, headers: { authorization, accept: FHIR } });
  t.equal(one.json().data, 'YQ==', 'a one-byte Binary still has its data');
});

t.test('Binary entries of search and history Bundles are tagged SUBSETTED', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const put = (text: string) => app.inject({ method: 'PUT', url: '/fhir/Binary/bb1', headers: { authorization, 'content-type': 'application/pdf' }, payload: Buffer.from(text) });
  t.equal((await put('%PDF-1.4 one')).statusCode, 201);
  t.equal((await put('%PDF-1.4 two')).statusCode, 200);
  const asJson = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from('hello').toString('base64') } });
  t.equal(asJson.statusCode, 201);
  await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Patient', gender: 'male' } });
  const get = async (url: string) => {
    const res = await app.inject({ url, headers: { authorization } });
    t.equal(res.statusCode, 200, url);
    return res.json() as { entry: Array<{ resource?: Record<string, unknown> & Tagged; response?: { status: string } }> };
  };

  t.test('search', async (t) => {
    const bundle = await get('/fhir/Binary?_id=bb1');
    t.equal(bundle.entry.length, 1);
    const binary = bundle.entry[0]!.resource!;
    t.match(binary, { resourceType: 'Binary', id: 'bb1', contentType: 'application/pdf', meta: { versionId: '2' } });
    t.notOk('data' in binary);
    t.equal(subsettedTags(binary), 1);
    const all = await get('/fhir/Binary');
    t.equal(all.entry.length, 2);
    for (const e of all.entry) t.equal(subsettedTags(e.resource!), 1, `${e.resource!.id} tagged`);
    const summary = await get('/fhir/Binary?_id=bb1&_summary=true');
    t.equal(subsettedTags(summary.entry[0]!.resource!), 1, 'tagged once with _summary');
  });

  t.test('history of the instance and of the type', async (t) => {
    const instance = await get('/fhir/Binary/bb1/_history');
    t.equal(instance.entry.length, 2);
    for (const e of instance.entry) {
      t.notOk('data' in e.resource!);
      t.equal(subsettedTags(e.resource!), 1);
    }
    const type = await get('/fhir/Binary/_history');
    t.equal(type.entry.length, 3);
    for (const e of type.entry) t.equal(subsettedTags(e.resource!), 1);
    const system = await get('/fhir/_history');
    for (const e of system.entry) {
      const expected = e.resource!.resourceType === 'Binary' ? 1 : 0;
      t.equal(subsettedTags(e.resource!), expected, `${String(e.resource!.resourceType)} in the system history`);
    }
  });

  t.test('other resources and a deleted Binary version are unchanged', async (t) => {
    const patients = await get('/fhir/Patient');
    t.equal(subsettedTags(patients.entry[0]!.resource!), 0);
    t.equal((await app.inject({ method: 'DELETE', url: '/fhir/Binary/bb1', headers: { authorization } })).statusCode, 200);
    const history = await get('/fhir/Binary/bb1/_history');
    t.equal(history.entry[0]!.response!.status, '410 Gone');
    t.notOk(history.entry[0]!.resource);
  });

  t.test('reading a Binary by id is unchanged: data, no tag', async (t) => {
    const read = await app.inject({ url: `/fhir/Binary/${asJson.json().id}`, headers: { authorization, accept: FHIR } });
    t.equal(read.statusCode, 200);
    t.equal(Buffer.from(read.json().data, 'base64').toString(), 'hello');
    t.equal(subsettedTags(read.json()), 0);
  });
});
