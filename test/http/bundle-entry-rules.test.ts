import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

const FHIR = 'application/fhir+json';

// Entries of a batch or transaction are processed as the HTTP interactions they stand for (http.html#transaction).
t.test('bundle entries follow the rules of the interactions they stand for', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const post = (payload: unknown) => app.inject({ method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR }, payload: payload as object });
  const status = async (url: string) => (await app.inject({ url: `/fhir/${url}`, headers: { authorization } })).statusCode;

  t.test('a PUT entry needs the URL id in its body, as a direct PUT does', async (t) => {
    const mismatch = await post({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PUT', url: 'Patient/x6' }, resource: { resourceType: 'Patient', id: 'other6', gender: 'male' } }] });
    t.equal(mismatch.statusCode, 400);
    t.match(mismatch.json().issue[0], { details: { coding: [{ code: 'FHIR_ERR_REST_ID_MISMATCH' }] }, diagnostics: /Bundle\.entry\[0\]/ });
    t.equal(await status('Patient/x6'), 404, 'nothing written under the URL id');
    t.equal(await status('Patient/other6'), 404, 'nor under the body id');

    const batch = await post({ resourceType: 'Bundle', type: 'batch', entry: [
      { request: { method: 'PUT', url: 'Patient/x3' }, resource: { resourceType: 'Patient' } },
      { request: { method: 'PUT', url: 'Patient/x4' }, resource: { resourceType: 'Patient', id: 'x4' } },
    ] });
    t.equal(batch.statusCode, 200);
    t.equal(batch.json().entry[0].response.status, '400');
    t.match(batch.json().entry[0].response.outcome.issue[0].details.coding[0], { code: 'FHIR_ERR_REST_ID_MISSING' });
    t.match(batch.json().entry[1].response.status, /^201/, 'the other entry of the batch is written');
    t.equal(await status('Patient/x3'), 404);

    // A conditional update may leave the id out; it may not name another resource than its match.
    await post({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PUT', url: 'Patient/cond1' }, resource: { resourceType: 'Patient', id: 'cond1', identifier: [{ system: 'urn:t', value: 'c1' }] } }] });
    const conditional = await post({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PUT', url: 'Patient?identifier=urn:t|c1' }, resource: { resourceType: 'Patient', gender: 'female', identifier: [{ system: 'urn:t', value: 'c1' }] } }] });
    t.match(conditional.json().entry?.[0]?.response, { status: '200 OK', location: 'Patient/cond1/_history/2' });
    const otherId = await post({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PUT', url: 'Patient?identifier=urn:t|c1' }, resource: { resourceType: 'Patient', id: 'someone-else', identifier: [{ system: 'urn:t', value: 'c1' }] } }] });
    t.equal(otherId.statusCode, 400);
    t.match(otherId.json().issue[0].details.coding[0], { code: 'FHIR_ERR_REST_ID_MISMATCH' });
  });

  t.test('a fullUrl appears once (bdl-7), unless the versions differ', async (t) => {
    const uuid = 'urn:uuid:33333333-3333-4333-8333-333333333333';
    const res = await post({ resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: uuid, request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'First' }] } },
      { fullUrl: uuid, request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'Second' }] } },
      { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: uuid } } },
    ] });
    t.equal(res.statusCode, 400);
    t.match(res.json().issue[0], { details: { coding: [{ code: 'FHIR_ERR_BUNDLE_FULLURL_DUPLICATE' }] }, expression: ['Bundle.entry[1].fullUrl'] });
    const found = await app.inject({ url: '/fhir/Patient?family=First,Second&_summary=count', headers: { authorization } });
    t.equal(found.json().total, 0, 'nothing written');
    const batch = await post({ resourceType: 'Bundle', type: 'batch', entry: [
      { fullUrl: 'http://example.org/fhir/Patient/a', request: { method: 'GET', url: 'Patient/x4' } },
      { fullUrl: 'http://example.org/fhir/Patient/a', request: { method: 'GET', url: 'Patient/x4' } },
    ] });
    t.equal(batch.statusCode, 400, 'a batch too');
    const versions = await post({ resourceType: 'Bundle', type: 'batch', entry: [
      { fullUrl: 'http://example.org/fhir/Patient/a', resource: { resourceType: 'Patient', id: 'a', meta: { versionId: '1' } }, request: { method: 'GET', url: 'Patient/x4' } },
      { fullUrl: 'http://example.org/fhir/Patient/a', resource: { resourceType: 'Patient', id: 'a', meta: { versionId: '2' } }, request: { method: 'GET', url: 'Patient/x4' } },
    ] });
    t.equal(versions.statusCode, 200, 'the same fullUrl with different versionIds is allowed');
  });

  t.test('GET entries honour ifNoneMatch; HEAD entries answer without the resource', async (t) => {
    const res = await post({ resourceType: 'Bundle', type: 'batch', entry: [
      { request: { method: 'GET', url: 'Patient/x4', ifNoneMatch: 'W/"1"' } },
      { request: { method: 'GET', url: 'Patient/x4', ifNoneMatch: 'W/"9"' } },
      { request: { method: 'HEAD', url: 'Patient/x4' } },
      { request: { method: 'GET', url: 'Patient/x4' } },
    ] });
    t.equal(res.statusCode, 200);
    const [notModified, changed, head, plain] = res.json().entry;
    t.match(notModified.response, { status: '304', etag: 'W/"1"' });
    t.notOk(notModified.resource, 'no resource with a 304');
    t.equal(changed.response.status, '200');
    t.equal(changed.resource.id, 'x4');
    t.match(head.response, { status: '200', etag: 'W/"1"' });
    t.notOk(head.resource, 'no resource for HEAD');
    t.equal(plain.resource.id, 'x4');
    t.match(plain.response.lastModified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'lastModified as an instant');
    const tx = await post({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: 'Patient/x4', ifNoneMatch: 'W/"1"' } }] });
    t.match(tx.json().entry[0].response, { status: '304' });
    const since = await post({ resourceType: 'Bundle', type: 'batch', entry: [
      { request: { method: 'GET', url: 'Patient/x4', ifModifiedSince: plain.response.lastModified } },
      { request: { method: 'GET', url: 'Patient/x4', ifModifiedSince: '2000-01-01T00:00:00Z' } },
    ] });
    t.match(since.json().entry[0].response, { status: '304' }, 'ifModifiedSince (a FHIR instant) at the version\'s lastModified');
    t.equal(since.json().entry[1].resource.id, 'x4', 'modified since 2000');
  });
});
