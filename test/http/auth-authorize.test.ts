import t from 'tap';
import { decodeJwt } from 'jose';
import { MongoNetworkError } from 'mongodb';
import { hashPassword } from '../../src/auth/oauth/accounts.js';
import { unavailableAs503 } from '../../src/store/mongodb/mongo-unavailable.js';
import {
  appClient, authorize, buildAuthTestApp, createTestClient, exchangeCode, getAccessToken, offeredScopes, pkcePair, postTokenForm, requestIdOf,
} from '../helpers/tokens.js';

const lab = await createTestClient({ clientId: 'lab', scope: 'system/*.cruds' });
const secretHash = await hashPassword('app-secret-value');
const { app } = await buildAuthTestApp(t, {
  // lab is a registered resource server: only such a client introspects tokens issued to other clients (RFC 7662 §2.1).
  clients: [{ ...lab.registration, resourceServer: true }, appClient(), appClient({ clientId: 'confidential-app', clientSecretHash: secretHash })],
  signInLimits: { perAccount: 3, perAddress: 1000, windowMs: 60_000 },
});
const PASSWORD = 'correct horse battery';
await app.carnetAuth.accounts.create({ username: 'alice', password: PASSWORD, kind: 'patient', fhirUser: 'Patient/p1', displayName: 'Alice' });
await app.carnetAuth.accounts.create({ username: 'Parent', password: PASSWORD, kind: 'related-person', fhirUser: 'RelatedPerson/r1', patients: ['kid1', 'kid2'] });
await app.carnetAuth.accounts.create({ username: 'locked', password: PASSWORD, kind: 'patient', fhirUser: 'Patient/p9' });
const SCOPE = 'launch/patient openid fhirUser offline_access patient/Observation.rs patient/Patient.r';
const whoami = (token: string) => app.inject({ url: '/fhir/whoami', headers: { authorization: `Bearer ${token}` } });
const form = (payload: Record<string, string>) => ({ method: 'POST' as const, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(payload).toString() });

t.test('discovery documents', async (t) => {
  const res = await app.inject('/fhir/.well-known/smart-configuration');
  t.equal(res.statusCode, 200);
  const doc = res.json();
  t.match(doc, {
    issuer: 'http://carnet.test',
    token_endpoint: 'http://carnet.test/auth/token',
    authorization_endpoint: 'http://carnet.test/auth/authorize',
    jwks_uri: 'http://carnet.test/auth/jwks',
    introspection_endpoint: 'http://carnet.test/auth/introspect',
    revocation_endpoint: 'http://carnet.test/auth/revoke',
    code_challenge_methods_supported: ['S256'],
  });
  t.ok(doc.grant_types_supported.includes('client_credentials') && doc.grant_types_supported.includes('authorization_code'));
  t.ok(doc.capabilities.includes('launch-standalone') && doc.capabilities.includes('sso-openid-connect'));
  t.match((await app.inject('/.well-known/openid-configuration')).json(), { issuer: 'http://carnet.test', id_token_signing_alg_values_supported: ['RS256'] });
});

t.test('standalone patient launch: code + PKCE, launch context, id_token, refresh token', async (t) => {
  const { location, verifier, consentHtml } = await authorize(app, { clientId: 'test-app', scope: SCOPE, username: 'ALICE', password: PASSWORD, state: 'xyz', nonce: 'n-1' });
  t.match(consentHtml, /Lire et rechercher les données Observation du patient choisi/);
  t.match(consentHtml, /Read and search Observation data of the selected patient/);
  t.match(consentHtml, /Test &lt;App&gt;/, 'the client name is escaped');
  t.equal(location.origin + location.pathname, 'https://app.test/callback');
  t.equal(location.searchParams.get('state'), 'xyz');
  t.equal(location.searchParams.get('iss'), 'http://carnet.test');
  const code = location.searchParams.get('code')!;
  const res = await exchangeCode(app, code, verifier);
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  const body = res.json();
  t.match(body, { token_type: 'Bearer', patient: 'p1', scope: 'patient/Observation.rs patient/Patient.r launch/patient openid fhirUser offline_access' });
  t.type(body.refresh_token, 'string');
  const id = decodeJwt(body.id_token);
  t.match(id, { iss: 'http://carnet.test', aud: 'test-app', nonce: 'n-1', fhirUser: 'http://carnet.test/fhir/Patient/p1' });
  const who = (await whoami(body.access_token)).json();
  t.match(who, { kind: 'patient', clientId: 'test-app', patient: 'p1', fhirUser: 'Patient/p1', scopes: ['patient/Observation.rs', 'patient/Patient.r'] });
  t.equal(id.sub, who.subject, 'id_token and access token name the same account');

  const replay = await exchangeCode(app, code, verifier);
  t.equal(replay.statusCode, 400);
  t.equal(replay.json().error, 'invalid_grant', 'a code is single-use');
});

t.test('PKCE: a missing, blank, plain or wrong verifier is refused and spends the code', async (t) => {
  for (const [name, verifierOf] of [
    ['missing', () => undefined],
    ['blank', () => ''],
    ['plain (the challenge itself)', (_v: string, c: string) => c],
    ['wrong', () => pkcePair().verifier],
    ['too short', () => 'abc'],
  ] as Array<[string, (v: string, c: string) => string | undefined]>) {
    const { location, verifier } = await authorize(app, { clientId: 'test-app', scope: 'patient/Observation.rs', username: 'alice', password: PASSWORD });
    const code = location.searchParams.get('code')!;
    const { createHash } = await import('node:crypto');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const res = await exchangeCode(app, code, verifierOf(verifier, challenge));
    t.equal(res.json().error, 'invalid_grant', name);
    t.equal((await exchangeCode(app, code, verifier)).json().error, 'invalid_grant', `${name}: the code is spent`);
  }
});

t.test('authorize request checks', async (t) => {
  const { challenge } = pkcePair();
  const base = { response_type: 'code', client_id: 'test-app', redirect_uri: 'https://app.test/callback', scope: 'patient/Observation.rs', state: 's1', aud: 'http://carnet.test/fhir', code_challenge: challenge, code_challenge_method: 'S256' };
  const go = (over: Record<string, string | undefined>) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...base, ...over })) if (v !== undefined) q.set(k, v);
    return app.inject(`/auth/authorize?${q}`);
  };
  for (const [name, over] of [
    ['unknown client', { client_id: 'nope' }],
    ['unregistered redirect_uri', { redirect_uri: 'https://evil.test/callback' }],
    ['redirect_uri prefix only', { redirect_uri: 'https://app.test/callback/more' }],
    ['missing redirect_uri', { redirect_uri: undefined }],
  ] as const) {
    const res = await go(over);
    t.equal(res.statusCode, 400, name);
    t.notOk(res.headers.location, `${name}: never redirected`);
    t.match(res.headers['content-type'], /text\/html/);
  }
  for (const [name, over, error] of [
    ['wrong aud', { aud: 'http://other.test/fhir' }, 'invalid_request'],
    ['no aud', { aud: undefined }, 'invalid_request'],
    ['plain PKCE', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['no PKCE', { code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type'],
    ['unknown type in scope', { scope: 'patient/Nope.rs' }, 'invalid_scope'],
    ['system scope only', { scope: 'system/*.rs' }, 'invalid_scope'],
  ] as const) {
    const res = await go(over);
    t.equal(res.statusCode, 302, name);
    const location = new URL(String(res.headers.location));
    t.equal(location.searchParams.get('error'), error, name);
    t.equal(location.searchParams.get('state'), 's1', `${name}: state echoed`);
  }
  const repeated = await app.inject(`/auth/authorize?${new URLSearchParams(base)}&scope=openid`);
  t.equal(repeated.statusCode, 400, 'a repeated parameter is refused');
});

t.test('consent: scopes can be unticked, refusal returns access_denied', async (t) => {
  const { location, verifier } = await authorize(app, { clientId: 'test-app', scope: SCOPE, username: 'alice', password: PASSWORD, untick: ['patient/Patient.r', 'offline_access'] });
  const body = (await exchangeCode(app, location.searchParams.get('code')!, verifier)).json();
  t.equal(body.scope, 'patient/Observation.rs launch/patient openid fhirUser');
  t.notOk(body.refresh_token);
  const denied = await authorize(app, { clientId: 'test-app', scope: SCOPE, username: 'alice', password: PASSWORD, decision: 'deny', state: 'd' });
  t.equal(denied.location.searchParams.get('error'), 'access_denied');
  t.equal(denied.location.searchParams.get('state'), 'd');
  t.notOk(denied.location.searchParams.get('code'));
});

t.test('a legal representative chooses which child', async (t) => {
  const { location, verifier, consentHtml } = await authorize(app, { clientId: 'test-app', scope: SCOPE, username: 'parent', password: PASSWORD, patient: 'kid2' });
  t.match(consentHtml, /name="patient" value="kid1" checked/);
  t.match(consentHtml, /name="patient" value="kid2"/);
  const body = (await exchangeCode(app, location.searchParams.get('code')!, verifier)).json();
  t.equal(body.patient, 'kid2');
  t.match((await whoami(body.access_token)).json(), { kind: 'related-person', patient: 'kid2', fhirUser: 'RelatedPerson/r1' });
  const other = await authorize(app, { clientId: 'test-app', scope: SCOPE, username: 'parent', password: PASSWORD, patient: 'p1' });
  t.equal(other.location.searchParams.get('error'), 'invalid_request', 'a patient outside the account is refused');
});

t.test('refresh tokens rotate; reuse revokes the whole family', async (t) => {
  const { location, verifier } = await authorize(app, { clientId: 'test-app', scope: SCOPE, username: 'alice', password: PASSWORD });
  const first = (await exchangeCode(app, location.searchParams.get('code')!, verifier)).json();
  const refresh = (token: string, extra: Record<string, string> = {}) =>
    postTokenForm(app, { grant_type: 'refresh_token', refresh_token: token, client_id: 'test-app', ...extra });
  const second = await refresh(first.refresh_token);
  t.equal(second.statusCode, 200);
  t.not(second.json().refresh_token, first.refresh_token);
  t.equal(second.json().patient, 'p1');
  const narrowed = await refresh(second.json().refresh_token, { scope: 'patient/Observation.r offline_access' });
  t.equal(narrowed.json().scope, 'patient/Observation.r offline_access', 'scope may narrow on refresh');
  const wider = await refresh(narrowed.json().refresh_token, { scope: 'patient/Condition.rs' });
  t.equal(wider.json().error, 'invalid_scope');

  const { location: l2, verifier: v2 } = await authorize(app, { clientId: 'test-app', scope: SCOPE, username: 'alice', password: PASSWORD });
  const a = (await exchangeCode(app, l2.searchParams.get('code')!, v2)).json();
  const b = (await refresh(a.refresh_token)).json();
  t.equal((await whoami(b.access_token)).statusCode, 200, 'the rotated access token works');
  const reuse = await refresh(a.refresh_token);
  t.equal(reuse.json().error, 'invalid_grant');
  t.match(reuse.json().error_description, /already used/);
  t.equal((await whoami(b.access_token)).statusCode, 401, 'the access tokens of the family are revoked too');
  t.equal((await whoami(a.access_token)).statusCode, 401, 'the first one as well');
  t.equal((await refresh(b.refresh_token)).json().error, 'invalid_grant', 'the newer token of the family is revoked too');
  t.equal((await postTokenForm(app, { grant_type: 'refresh_token', refresh_token: b.refresh_token, client_id: 'confidential-app' })).statusCode, 401);
});

t.test('a replayed authorization code revokes every token its first exchange issued (RFC 6749 §4.1.2)', async (t) => {
  const refresh = (token: string) => postTokenForm(app, { grant_type: 'refresh_token', refresh_token: token, client_id: 'test-app' });
  for (const [name, scope] of [['with a refresh token', SCOPE], ['access token only', 'launch/patient patient/Observation.rs']] as const) {
    const { location, verifier } = await authorize(app, { clientId: 'test-app', scope, username: 'alice', password: PASSWORD });
    const code = location.searchParams.get('code')!;
    const first = (await exchangeCode(app, code, verifier)).json();
    t.equal((await whoami(first.access_token)).statusCode, 200, `${name}: the first exchange's token works`);
    const replay = await exchangeCode(app, code, verifier);
    t.equal(replay.json().error, 'invalid_grant', `${name}: the replay is refused`);
    t.match(replay.json().error_description, /already used/);
    t.equal((await whoami(first.access_token)).statusCode, 401, `${name}: the first exchange's access token is revoked`);
    if (first.refresh_token) t.equal((await refresh(first.refresh_token)).json().error, 'invalid_grant', `${name}: its refresh token too`);
  }
  // Another sign-in's tokens are untouched.
  const { location, verifier } = await authorize(app, { clientId: 'test-app', scope: SCOPE, username: 'alice', password: PASSWORD });
  const other = (await exchangeCode(app, location.searchParams.get('code')!, verifier)).json();
  const { location: l2, verifier: v2 } = await authorize(app, { clientId: 'test-app', scope: SCOPE, username: 'alice', password: PASSWORD });
  const code2 = l2.searchParams.get('code')!;
  await exchangeCode(app, code2, v2);
  await exchangeCode(app, code2, v2);
  t.equal((await whoami(other.access_token)).statusCode, 200, 'a replay revokes only its own sign-in');
});

t.test('introspection and revocation', async (t) => {
  const { location, verifier } = await authorize(app, { clientId: 'test-app', scope: SCOPE, username: 'alice', password: PASSWORD });
  const tokens = (await exchangeCode(app, location.searchParams.get('code')!, verifier)).json();
  const { signClientAssertion } = await import('../helpers/tokens.js');
  const { JWT_BEARER_ASSERTION_TYPE } = await import('../../src/auth/client-assertion.js');
  const asLab = async (url: string, fields: Record<string, string>) => app.inject({ url, ...form({
    ...fields, client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await signClientAssertion(lab, 'http://carnet.test/auth/token'),
  }) });
  const active = (await asLab('/auth/introspect', { token: tokens.access_token })).json();
  t.match(active, { active: true, client_id: 'test-app', patient: 'p1', scope: tokens.scope, token_type: 'Bearer', fhirUser: 'Patient/p1' });
  t.match((await asLab('/auth/introspect', { token: tokens.refresh_token })).json(), { active: true, token_type: 'refresh_token', patient: 'p1' });
  t.same((await asLab('/auth/introspect', { token: 'garbage' })).json(), { active: false });
  t.equal((await app.inject({ url: '/auth/introspect', ...form({ token: tokens.access_token, client_id: 'test-app' }) })).statusCode, 401, 'a public client may not introspect');
  t.equal((await app.inject({ url: '/auth/introspect', ...form({ token: tokens.access_token }) })).statusCode, 401, 'introspection needs client authentication');

  const revoke = (token: string, clientId = 'test-app') => app.inject({ url: '/auth/revoke', ...form({ token, client_id: clientId }) });
  t.equal((await whoami(tokens.access_token)).statusCode, 200, 'the token works before, and the server knows it from then on');
  t.equal((await revoke(tokens.access_token)).statusCode, 200);
  t.equal((await whoami(tokens.access_token)).statusCode, 401, 'a revoked access token is refused');
  t.same((await asLab('/auth/introspect', { token: tokens.access_token })).json(), { active: false });
  t.equal((await revoke(tokens.refresh_token)).statusCode, 200);
  t.equal((await postTokenForm(app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'test-app' })).json().error, 'invalid_grant');
  t.equal((await revoke('unknown-token')).statusCode, 200, 'unknown tokens: 200 as RFC 7009 says');

  const systemToken = await getAccessToken(app, lab, 'system/*.rs');
  t.equal((await revoke(systemToken)).statusCode, 200);
  t.equal((await whoami(systemToken)).statusCode, 200, 'a client cannot revoke the token of another client');
});

t.test('client_secret_basic for a confidential app', async (t) => {
  const run = async (secret: string) => {
    const { location, verifier } = await authorize(app, { clientId: 'confidential-app', scope: 'patient/Observation.rs', username: 'alice', password: PASSWORD });
    return app.inject({
      url: '/auth/token',
      ...form({ grant_type: 'authorization_code', code: location.searchParams.get('code')!, redirect_uri: 'https://app.test/callback', code_verifier: verifier }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`confidential-app:${secret}`).toString('base64')}` },
    });
  };
  t.equal((await run('app-secret-value')).statusCode, 200);
  const wrong = await run('not-the-secret');
  t.equal(wrong.statusCode, 401);
  t.equal(wrong.json().error, 'invalid_client');
  t.match(wrong.headers['www-authenticate'], /^Basic/);
  const { location, verifier } = await authorize(app, { clientId: 'confidential-app', scope: 'patient/Observation.rs', username: 'alice', password: PASSWORD });
  const asPublic = await exchangeCode(app, location.searchParams.get('code')!, verifier, 'confidential-app');
  t.equal(asPublic.json().error, 'invalid_client', 'a confidential client cannot skip authentication');
});

t.test('sign-in failures: wrong password page, then rate limited per account', async (t) => {
  const { challenge } = pkcePair();
  const start = await app.inject(`/auth/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'test-app', redirect_uri: 'https://app.test/callback', scope: 'patient/Observation.rs', aud: 'http://carnet.test/fhir', code_challenge: challenge, code_challenge_method: 'S256' })}`);
  const requestId = requestIdOf(start.body);
  const signIn = (username: string, password: string) => app.inject({ url: '/auth/authorize/sign-in', ...form({ request_id: requestId, username, password }) });
  const wrong = await signIn('locked', 'wrong password!');
  t.equal(wrong.statusCode, 401);
  t.match(wrong.body, /Wrong username or password/);
  t.match(wrong.body, /name="password"/, 'the form is shown again');
  t.equal((await signIn('nobody-here', 'whatever')).statusCode, 401, 'unknown account: same answer');
  await signIn('locked', 'wrong again');
  await signIn('LOCKED', 'and again');
  const limited = await signIn('locked', PASSWORD);
  t.equal(limited.statusCode, 429, 'even the right password waits once the account is locked');
  t.ok(Number(limited.headers['retry-after']) > 0);
  t.match(limited.body, /Too many failed attempts/);
  const ok = await signIn('alice', PASSWORD);
  t.equal(ok.statusCode, 200, 'other accounts are not affected');
  t.same(offeredScopes(ok.body), ['patient/Observation.rs']);
  const expired = await app.inject({ url: '/auth/authorize/consent', ...form({ request_id: 'nope', decision: 'approve' }) });
  t.equal(expired.statusCode, 400);
});

t.test('sign-in while the store is unavailable: a 503 page saying to try again, with Retry-After, not a 500', async (t) => {
  // What the MongoDB engine's accounts would do with no primary: the driver's network error, translated by the engine's wrapper.
  const down = unavailableAs503({ checkPassword: async (): Promise<never> => { throw new MongoNetworkError('connect ECONNREFUSED 10.0.0.5:27017'); } }, new Set());
  const accounts = app.carnetAuth.accounts;
  const original = accounts.checkPassword;
  accounts.checkPassword = down.checkPassword;
  t.teardown(() => { accounts.checkPassword = original; });
  const { challenge } = pkcePair();
  const start = await app.inject(`/auth/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'test-app', redirect_uri: 'https://app.test/callback', scope: 'patient/Observation.rs', aud: 'http://carnet.test/fhir', code_challenge: challenge, code_challenge_method: 'S256' })}`);
  const res = await app.inject({ url: '/auth/authorize/sign-in', ...form({ request_id: requestIdOf(start.body), username: 'alice', password: PASSWORD }) });
  t.equal(res.statusCode, 503);
  t.equal(res.headers['retry-after'], '5');
  t.match(res.headers['content-type'], /^text\/html/);
  t.match(res.body, /Try again in a few moments/);
  t.match(res.body, /Réessayez dans quelques instants/);
  t.notMatch(res.body, /ECONNREFUSED|10\.0\.0\.5/, 'the driver\'s words stay in the log');
  accounts.checkPassword = original;
  const after = await app.inject({ url: '/auth/authorize/sign-in', ...form({ request_id: requestIdOf(start.body), username: 'alice', password: PASSWORD }) });
  t.equal(after.statusCode, 200, 'the same request signs in once the store is back');
});

t.test('other methods on the token, introspection and revocation endpoints: 405 with Allow: POST', async (t) => {
  for (const url of ['/auth/token', '/auth/introspect', '/auth/revoke']) {
    for (const method of ['GET', 'PUT', 'DELETE'] as const) {
      const res = await app.inject({ method, url });
      t.equal(res.statusCode, 405, `${method} ${url}`);
      t.equal(res.headers.allow, 'POST');
      t.equal(res.json().error, 'invalid_request');
    }
  }
});
