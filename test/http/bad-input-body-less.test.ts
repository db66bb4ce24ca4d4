import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// Several client libraries send Content-Type on every request: a request that has no body must still work.
const FHIR = 'application/fhir+json';

t.test('Content-Type with no body', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth('system/*.cruds');
  const created = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': FHIR }, payload: '{"resourceType":"Patient"}' });
  const url = `/fhir/Patient/${created.json().id}`;

  t.test('GET and DELETE with Content-Type and an empty body succeed', async (t) => {
    const read = await app.inject({ method: 'GET', url, headers: { authorization, 'content-type': FHIR } });
    t.equal(read.statusCode, 200);
    for (const headers of [{ 'content-type': FHIR }, { 'content-type': 'application/json', 'content-length': '0' }]) {
      const again = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': FHIR }, payload: '{"resourceType":"Patient"}' });
      const res = await app.inject({ method: 'DELETE', url: `/fhir/Patient/${again.json().id}`, headers: { authorization, ...headers } });
      t.equal(res.statusCode, 200, JSON.stringify(headers));
      t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'information' }] });
    }
  });

  t.test('a write with an empty body is still a 400', async (t) => {
    const res = await app.inject({ method: 'PUT', url, headers: { authorization, 'content-type': FHIR }, payload: '' });
    t.equal(res.statusCode, 400);
    t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', details: { coding: [{ code: 'FHIR_ERR_HTTP_MALFORMED' }] } }] });
  });

  t.test('a DELETE whose body is not JSON is still a 400', async (t) => {
    const res = await app.inject({ method: 'DELETE', url, headers: { authorization, 'content-type': FHIR }, payload: '{' });
    t.equal(res.statusCode, 400);
  });
});
