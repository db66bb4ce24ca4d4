import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

const FHIR = 'application/fhir+json';

// Node's base64 decoder takes anything and drops what it cannot read: "abc" would be stored as the bytes of "abc=".
t.test('Binary.data must be base64 as written, on every path that takes it', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': FHIR };
  const code = (res: { json(): { issue?: Array<{ details?: { coding?: Array<{ code?: string }> } }> } }) => res.json().issue?.[0]?.details?.coding?.[0]?.code;
  for (const data of ['abc', 'YWJj=', 'YW=Jj', '@@@@', '']) {
    const created = await app.inject({ method: 'POST', url: '/fhir/Binary', headers, payload: { resourceType: 'Binary', contentType: 'text/plain', data } });
    t.equal(created.statusCode, 400, `POST ${JSON.stringify(data)}`);
    t.equal(code(created), 'FHIR_ERR_REST_BINARY_DATA');
    const bundle = await app.inject({ method: 'POST', url: '/fhir', headers, payload: { resourceType: 'Bundle', type: 'transaction', entry: [
      { request: { method: 'POST', url: 'Binary' }, resource: { resourceType: 'Binary', contentType: 'text/plain', data } },
    ] } });
    t.equal(bundle.statusCode, 400, `transaction ${JSON.stringify(data)}`);
  }
  const good = await app.inject({ method: 'POST', url: '/fhir/Binary', headers, payload: { resourceType: 'Binary', contentType: 'text/plain', data: 'YWJj\nZGVm' } });
  t.equal(good.statusCode, 201, 'valid base64, line breaks allowed');
  const id = good.json().id as string;
  t.equal((await app.inject({ url: `/fhir/Binary/${id}`, headers: { authorization, accept: 'text/plain' } })).body, 'abcdef');
  const patched = await app.inject({
    method: 'PATCH', url: `/fhir/Binary/${id}`, headers: { authorization, 'content-type': 'application/json-patch+json' },
    payload: JSON.stringify([{ op: 'add', path: '/data', value: 'abc' }]),
  });
  t.equal(patched.statusCode, 400, 'a patch setting invalid data');
  t.equal((await app.inject({ url: `/fhir/Binary/${id}`, headers: { authorization, accept: 'text/plain' } })).body, 'abcdef', 'the bytes are unchanged');
});
