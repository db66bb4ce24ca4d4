import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// A PUT by id whose body changes nothing (meta.lastUpdated aside) writes no version and answers
// the current one; a conditional PUT matching one resource wrote a new version each time, over
// REST and as a Bundle entry (exploratory finding).
t.test('a conditional PUT that changes nothing writes no version, over REST and in a Bundle', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': 'application/fhir+json' };
  const body = { resourceType: 'Patient', identifier: [{ system: 'urn:test', value: 'noop-1' }], name: [{ family: 'Y' }] };
  const created = await app.inject({ method: 'POST', url: '/fhir/Patient', headers, payload: body });
  t.equal(created.statusCode, 201);
  const id = created.json().id as string;
  const version = async () => (await app.inject({ url: `/fhir/Patient/${id}`, headers: { authorization } })).json().meta.versionId as string;
  const url = '/fhir/Patient?identifier=urn:test|noop-1';

  // Each case is judged on its own: the version before it must be the version after it.
  for (const [name, payload] of [['no id in the body', body], ['the id in the body', { ...body, id }], ['the stored body, meta included', created.json()]] as const) {
    const before = await version();
    const res = await app.inject({ method: 'PUT', url, headers, payload });
    t.equal(res.statusCode, 200, `REST, ${name}`);
    t.equal(res.json().meta.versionId, before, `REST, ${name}: answers the current version`);
    t.equal(res.headers.etag, `W/"${before}"`, `REST, ${name}: its ETag`);
    t.equal(await version(), before, `REST, ${name}: no new version`);
  }
  for (const type of ['transaction', 'batch']) {
    for (const [name, resource] of [['no id in the body', body], ['the id in the body', { ...body, id }]] as const) {
      const before = await version();
      const res = await app.inject({ method: 'POST', url: '/fhir', headers, payload: { resourceType: 'Bundle', type, entry: [{ request: { method: 'PUT', url: 'Patient?identifier=urn:test|noop-1' }, resource }] } });
      t.equal(res.statusCode, 200, `${type}, ${name}`);
      t.match(res.json(), { entry: [{ response: { status: /^200/, etag: `W/"${before}"` } }] }, `${type}, ${name}: answers the current version`);
      t.equal(await version(), before, `${type}, ${name}: no new version`);
    }
  }

  // A change still writes one; a stale If-Match on a body that changes nothing is still a 412.
  const before = Number(await version());
  const changed = await app.inject({ method: 'PUT', url, headers, payload: { ...body, name: [{ family: 'Z' }] } });
  t.equal(changed.statusCode, 200);
  t.equal(changed.json().meta.versionId, String(before + 1), 'a change writes a version');
  const stale = await app.inject({ method: 'PUT', url, headers: { ...headers, 'if-match': `W/"${before}"` }, payload: { ...body, name: [{ family: 'Z' }] } });
  t.equal(stale.statusCode, 412, 'a stale If-Match on a no-op is still a 412');

  // Still judged as an update: a client that may only read gets the 403, and nothing is written.
  const reader = await auth('system/Patient.rs');
  const refused = await app.inject({ method: 'PUT', url, headers: { ...headers, authorization: reader }, payload: { ...body, name: [{ family: 'Z' }] } });
  t.equal(refused.statusCode, 403);
  t.equal(await version(), String(before + 1));
});
