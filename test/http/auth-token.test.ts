import t from 'tap';
import type { Test } from 'tap';
import { decodeJwt, decodeProtectedHeader, generateKeyPair } from 'jose';
import { JWT_BEARER_ASSERTION_TYPE } from '../../src/auth/client-assertion.js';
import { buildAuthTestApp, createTestClient, postTokenForm, requestToken, signClientAssertion } from '../helpers/tokens.js';

const lab = await createTestClient({ clientId: 'lab', scope: 'system/*.cruds' });
const rsa = await createTestClient({ clientId: 'rsa-client', alg: 'RS384', scope: 'system/Observation.rs system/Patient.r' });
const app = (await buildAuthTestApp(t, { clients: [lab, rsa] })).app;
const tokenUrl = 'http://carnet.test/auth/token';

t.test('client_credentials gives a Bearer token per SMART Backend Services', async (t) => {
  const res = await requestToken(app, lab, 'system/Observation.rs');
  t.equal(res.statusCode, 200);
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(res.headers['pragma'], 'no-cache');
  const body = res.json();
  t.match(body, { token_type: 'Bearer', expires_in: 300, scope: 'system/Observation.rs' });
  const claims = decodeJwt(body.access_token);
  t.match(claims, { iss: 'http://carnet.test', aud: 'http://carnet.test/fhir', sub: 'lab', client_id: 'lab', scope: 'system/Observation.rs' });
  t.equal(claims.exp! - claims.iat!, 300);
  t.type(claims.jti, 'string');
  const jwks = (await app.inject('/auth/jwks')).json();
  t.ok(jwks.keys.some((k: { kid: string }) => k.kid === decodeProtectedHeader(body.access_token).kid), 'signing key is published');
  t.notOk(jwks.keys.some((k: Record<string, unknown>) => 'd' in k), 'no private material in the JWKS');
});

t.test('RS384 assertions are accepted and scopes are narrowed to what is allowed', async (t) => {
  const res = await requestToken(app, rsa, 'system/*.cruds system/Condition.rs');
  t.equal(res.statusCode, 200);
  t.equal(res.json().scope, 'system/Observation.rs system/Patient.r');
});

const oauthError = (t: Test, res: { statusCode: number; json: () => any; headers: Record<string, unknown> }, status: number, error: string) => {
  t.equal(res.statusCode, status, `status ${status}`);
  t.equal(res.json().error, error);
  t.type(res.json().error_description, 'string');
  t.notMatch(JSON.stringify(res.json()), /at .*\.(ts|js):\d+/, 'no stack trace');
  t.equal(res.headers['cache-control'], 'no-store');
};

t.test('client authentication failures are invalid_client (401)', async (t) => {
  const { privateKey: otherKey } = await generateKeyPair('ES384');
  const now = Math.floor(Date.now() / 1000);
  const cases: Array<[string, () => Promise<any>]> = [
    ['bad signature', () => requestToken(app, lab, 'system/*.rs', { key: otherKey })],
    ['wrong aud', () => requestToken(app, lab, 'system/*.rs', { aud: 'http://carnet.test/fhir' })],
    ['expired', () => requestToken(app, lab, 'system/*.rs', { exp: now - 600 })],
    ['exp more than 5 minutes ahead', () => requestToken(app, lab, 'system/*.rs', { exp: now + 600 })],
    ['unknown kid', () => requestToken(app, lab, 'system/*.rs', { kid: 'not-registered' })],
    ['iss != sub', () => requestToken(app, lab, 'system/*.rs', { sub: 'rsa-client' })],
    ['unknown client', () => requestToken(app, { ...lab, clientId: 'nobody' }, 'system/*.rs')],
    ['no jti', () => requestToken(app, lab, 'system/*.rs', { jti: null })],
    ['wrong assertion type', () => postTokenForm(app, { grant_type: 'client_credentials', client_assertion_type: 'urn:other', client_assertion: 'x.y.z', scope: 'system/*.rs' })],
    ['not a JWT', () => postTokenForm(app, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: 'garbage', scope: 'system/*.rs' })],
    ['Basic credentials instead of an assertion', () => app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('lab:wrong').toString('base64')}` }, payload: 'grant_type=client_credentials&scope=system%2F*.rs' })],
    ['client_id names another client than the assertion', async () => postTokenForm(app, { grant_type: 'client_credentials', client_id: 'rsa-client', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await signClientAssertion(lab, tokenUrl), scope: 'system/*.rs' })],
  ];
  for (const [name, send] of cases) {
    await t.test(name, async (t) => oauthError(t, await send(), 401, 'invalid_client'));
  }
});

t.test('an assertion signed with HS256 or RS256 is refused', async (t) => {
  const rs256 = await createTestClient({ clientId: 'lab', alg: 'RS384' });
  const { SignJWT } = await import('jose');
  const { privateKey } = await generateKeyPair('RS256');
  const assertion = await new SignJWT({ jti: 'x' }).setProtectedHeader({ alg: 'RS256', kid: rs256.kid })
    .setIssuer('lab').setSubject('lab').setAudience(tokenUrl).setExpirationTime('1m').sign(privateKey);
  oauthError(t, await postTokenForm(app, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: assertion, scope: 'system/*.rs' }), 401, 'invalid_client');
});

t.test('a replayed jti is refused', async (t) => {
  const assertion = await signClientAssertion(lab, tokenUrl, { jti: 'once-only' });
  const form = { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: assertion, scope: 'system/*.rs' };
  t.equal((await postTokenForm(app, form)).statusCode, 200);
  const again = await postTokenForm(app, form);
  oauthError(t, again, 401, 'invalid_client');
  t.match(again.json().error_description, /already used/);
});

t.test('request errors', async (t) => {
  const assertion = () => signClientAssertion(lab, tokenUrl);
  oauthError(t, await postTokenForm(app, { grant_type: 'password', username: 'a', password: 'b' }), 400, 'unsupported_grant_type');
  oauthError(t, await postTokenForm(app, { client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await assertion(), scope: 'system/*.rs' }), 400, 'invalid_request');
  oauthError(t, await postTokenForm(app, { grant_type: 'client_credentials', scope: 'system/*.rs' }), 400, 'invalid_request');
  oauthError(t, await postTokenForm(app, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await assertion() }), 400, 'invalid_request');
  const json = await app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'client_credentials' } });
  oauthError(t, json, 400, 'invalid_request');
  const repeated = await app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials&grant_type=client_credentials' });
  oauthError(t, repeated, 400, 'invalid_request');
  const broken = await app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '%%%' });
  t.not(broken.statusCode, 500);
});

t.test('scope errors are invalid_scope', async (t) => {
  oauthError(t, await requestToken(app, rsa, 'system/Condition.rs'), 400, 'invalid_scope');
  oauthError(t, await requestToken(app, lab, 'patient/Observation.rs'), 400, 'invalid_scope');
  oauthError(t, await requestToken(app, lab, 'system/Unknown.rs'), 400, 'invalid_scope');
  oauthError(t, await requestToken(app, lab, 'system/Observation.xyz'), 400, 'invalid_scope');
});

t.test('a client registered by jwksUri is verified with its fetched key set', async (t) => {
  const { createServer } = await import('node:http');
  const remote = await createTestClient({ clientId: 'remote-client', alg: 'RS384' });
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(remote.registration.jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as { port: number };
  const { jwks: _jwks, ...registration } = remote.registration;
  const other = (await buildAuthTestApp(t, { clients: [{ ...registration, jwksUri: `http://127.0.0.1:${port}/jwks.json` }] })).app;
  const res = await requestToken(other, remote, 'system/Patient.rs');
  t.equal(res.statusCode, 200, res.body);
  const forged = await requestToken(other, remote, 'system/Patient.rs', { key: (await generateKeyPair('RS384')).privateKey });
  t.equal(forged.json().error, 'invalid_client');
});
