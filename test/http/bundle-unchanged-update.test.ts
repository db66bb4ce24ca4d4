import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// Over REST, a PUT or PATCH that leaves the resource as stored writes no version; as a Bundle
// entry it wrote one each time, so resending an idempotent transaction bumped every version.
t.test('an entry that changes nothing writes no version, in a transaction and in a batch', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': 'application/fhir+json' };
  const created = await app.inject({ method: 'POST', url: '/fhir/Patient', headers, payload: { resourceType: 'Patient', gender: 'female', name: [{ family: 'Durand' }] } });
  const current = created.json();
  const id = current.id as string;
  const patch = (value: string) => ({ request: { method: 'PATCH', url: `Patient/${id}` }, resource: { resourceType: 'Binary', contentType: 'application/json-patch+json',
    data: Buffer.from(JSON.stringify([{ op: 'replace', path: '/name/0/family', value }])).toString('base64') } });
  const put = (body: Record<string, unknown>) => ({ request: { method: 'PUT', url: `Patient/${id}` }, resource: body });
  const version = async () => (await app.inject({ url: `/fhir/Patient/${id}`, headers: { authorization } })).json().meta.versionId as string;
  for (const type of ['transaction', 'batch']) {
    for (const [name, entry] of [['a PUT of the stored body', put(current)], ['a PUT without meta', put({ resourceType: 'Patient', id, gender: 'female', name: [{ family: 'Durand' }] })], ['a PATCH to the same value', patch('Durand')]] as const) {
      const res = await app.inject({ method: 'POST', url: '/fhir', headers, payload: { resourceType: 'Bundle', type, entry: [entry] } });
      t.equal(res.statusCode, 200, `${type}, ${name}`);
      t.match(res.json(), { entry: [{ response: { status: /^200/, etag: 'W/"1"' } }] }, `${type}, ${name}: answers the current version`);
      t.equal(await version(), '1', `${type}, ${name}: no new version`);
    }
  }
  const changed = await app.inject({ method: 'POST', url: '/fhir', headers, payload: { resourceType: 'Bundle', type: 'transaction', entry: [patch('Dupont')] } });
  t.match(changed.json(), { entry: [{ response: { status: /^200/, etag: 'W/"2"' } }] }, 'a change still writes a version');

  // Still judged as an update: a client that may only read gets the 403.
  const reader = await auth('system/Patient.rs');
  const refused = await app.inject({ method: 'POST', url: '/fhir', headers: { ...headers, authorization: reader }, payload: { resourceType: 'Bundle', type: 'transaction', entry: [patch('Dupont')] } });
  t.equal(refused.statusCode, 403);
  t.equal(await version(), '2');
});
