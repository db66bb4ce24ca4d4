import t from 'tap';
import { Client } from 'undici';
import type { Bundle } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

/**
 * `.` and `..` match R4's id pattern, but they are URL dot-segments (RFC 3986
 * §5.2.4): an HTTP client resolves `Patient/..` to the base before sending
 * it, so a resource with such an id could never be read, and its Location
 * never followed. Sent here over a real socket with the path as written
 * (undici sends `path` unchanged; inject would resolve it first).
 */
t.test('the ids "." and ".." are refused with 400, and nothing is stored', async (t) => {
  const { app, auth } = await buildTestServer(t);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const client = new Client(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
  t.teardown(() => client.close());
  const headers = { authorization: await auth(), 'content-type': 'application/fhir+json' };
  for (const id of ['.', '..']) {
    const res = await client.request({ method: 'PUT', path: `/fhir/Patient/${id}`, headers, body: JSON.stringify({ resourceType: 'Patient', id }) });
    const body = await res.body.json() as { resourceType: string; issue: Array<{ diagnostics: string; details: { coding: Array<{ code: string }> } }> };
    t.equal(res.statusCode, 400, `PUT Patient/${id}`);
    t.equal(res.headers.location, undefined, 'no Location');
    t.match(body, { resourceType: 'OperationOutcome', issue: [{ diagnostics: /dot-segment/, details: { coding: [{ code: 'FHIR_ERR_REST_INVALID_ID' }] } }] });
  }
  const total = await client.request({ method: 'GET', path: '/fhir/Patient?_summary=count', headers });
  t.equal((await total.body.json() as Bundle).total, 0, 'no Patient stored');
});
