import t from 'tap';
import { buildTestServer } from '../helpers/server.js';
import { requestToken } from '../helpers/tokens.js';

// The auth pieces inside the whole server (buildServer): form parsing next to
// the FHIR content parsers, OAuth JSON errors at /auth, OperationOutcome 401s at /fhir.
const server = await buildTestServer(t);
const { app, client } = server;

t.test('the token endpoint works inside the full server', async (t) => {
  const res = await requestToken(app, client, 'system/Patient.rs');
  t.equal(res.statusCode, 200, res.body);
  const bad = await requestToken(app, client, 'system/Nope.rs');
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().error, 'invalid_scope');
  const json = await app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/json' }, payload: '{"grant_type":"client_credentials"}' });
  t.equal(json.json().error, 'invalid_request');
});

t.test('FHIR routes answer 401 OperationOutcome with WWW-Authenticate without a valid token', async (t) => {
  for (const authorization of [undefined, 'Bearer nope', 'Basic eDp5']) {
    const res = await app.inject({ url: '/fhir/Patient', headers: authorization ? { authorization } : {} });
    t.equal(res.statusCode, 401, String(authorization));
    t.match(res.headers['www-authenticate'], /^Bearer realm="carnet"/);
    t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ code: 'login' }] });
  }
  const ok = await app.inject({ url: '/fhir/Patient', headers: { authorization: await server.auth('system/Patient.rs') } });
  t.equal(ok.statusCode, 200);
});
