import t from 'tap';
import type { Test } from 'tap';
import { base64url, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey } from 'jose';
import type { LightMyRequestResponse } from 'fastify';
import { buildAuthTestApp, createTestClient, getAccessToken } from '../helpers/tokens.js';

const lab = await createTestClient({ clientId: 'lab', scope: 'system/*.cruds' });
const app = (await buildAuthTestApp(t, { clients: [lab] })).app;
const whoami = (authorization?: string) => app.inject({ url: '/fhir/whoami', headers: authorization === undefined ? {} : { authorization } });

const refused = (t: Test, res: LightMyRequestResponse, error = 'invalid_token') => {
  t.equal(res.statusCode, 401);
  t.match(res.headers['www-authenticate'], new RegExp(`^Bearer realm="carnet", error="${error}"`));
  t.notMatch(res.body, /ERR_J(WT|WS|OSE|WKS)|jose|verification failed|"exp" claim timestamp/i, 'only our own text reaches the client');
};

/** A token like ours, signed with the given key and claims. */
async function forge(claims: Record<string, unknown>, options: { key?: CryptoKey; kid?: string; typ?: string; aud?: string; iss?: string; exp?: number } = {}) {
  const signing = await app.carnetAuth.keys.signingKey();
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: 'lab', scope: 'system/*.cruds', kind: 'system', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? signing.kid, typ: options.typ ?? 'at+jwt' })
    .setIssuer(options.iss ?? 'http://carnet.test')
    .setAudience(options.aud ?? 'http://carnet.test/fhir')
    .setSubject('lab')
    .setJti('forged')
    .setIssuedAt(now - 10)
    .setExpirationTime(options.exp ?? now + 60)
    .sign(options.key ?? signing.key);
}

t.test('a token from /auth/token authenticates and sets request.principal', async (t) => {
  const token = await getAccessToken(app, lab, 'system/Observation.rs system/Patient.r');
  const res = await whoami(`Bearer ${token}`);
  t.equal(res.statusCode, 200);
  t.match(res.json(), { kind: 'system', clientId: 'lab', subject: 'lab', scope: 'system/Observation.rs system/Patient.r', scopes: ['system/Observation.rs', 'system/Patient.r'] });
  t.ok(res.json().expiresAt > Date.now());
  t.equal((await whoami(`bearer  ${token}`)).statusCode, 200, 'the scheme is case-insensitive');
});

t.test('a properly signed forgery of ours is accepted (the check is the signature, not the route)', async (t) => {
  t.equal((await whoami(`Bearer ${await forge({})}`)).statusCode, 200);
});

t.test('missing or malformed Authorization', async (t) => {
  for (const missing of [undefined, '', '   ']) {
    const res = await whoami(missing);
    t.equal(res.statusCode, 401);
    t.equal(res.headers['www-authenticate'], 'Bearer realm="carnet"', 'no error code without credentials (RFC 6750 §3.1)');
  }
  refused(t, await whoami('Basic dXNlcjpwYXNz'), 'invalid_request');
  refused(t, await whoami('Bearer'), 'invalid_request');
  refused(t, await whoami('Bearer a b'), 'invalid_request');
  refused(t, await whoami('Bearer not-a-jwt'));
  refused(t, await whoami('Bearer a.b.c'));
});

t.test('alg none is refused', async (t) => {
  const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
  const signing = await app.carnetAuth.keys.signingKey();
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: 'http://carnet.test', aud: 'http://carnet.test/fhir', sub: 'lab', client_id: 'lab', scope: 'system/*.cruds', kind: 'system', jti: 'n', iat: now, exp: now + 60 };
  refused(t, await whoami(`Bearer ${enc({ alg: 'none', typ: 'at+jwt' })}.${enc(payload)}.`));
  refused(t, await whoami(`Bearer ${enc({ alg: 'none', kid: signing.kid, typ: 'at+jwt' })}.${enc(payload)}.`));
});

t.test('wrong key, audience, issuer, type, expiry are refused', async (t) => {
  const { privateKey } = await generateKeyPair('RS256');
  refused(t, await whoami(`Bearer ${await forge({}, { key: privateKey })}`), 'invalid_token');
  refused(t, await whoami(`Bearer ${await forge({}, { key: privateKey, kid: 'someone-else' })}`));
  refused(t, await whoami(`Bearer ${await forge({}, { aud: 'http://elsewhere.test/fhir' })}`));
  refused(t, await whoami(`Bearer ${await forge({}, { iss: 'http://elsewhere.test' })}`));
  refused(t, await whoami(`Bearer ${await forge({}, { typ: 'JWT' })}`), 'invalid_token');
  const expired = await whoami(`Bearer ${await forge({}, { exp: Math.floor(Date.now() / 1000) - 5 })}`);
  refused(t, expired);
  t.match(expired.body, /The access token has expired/);
  refused(t, await whoami(`Bearer ${await forge({ kind: 'superuser' })}`));
  const token = await getAccessToken(app, lab, 'system/*.rs');
  // Used once, so that the verified-token cache (keyed by the signature's end) holds it.
  t.equal((await whoami(`Bearer ${token}`)).statusCode, 200);
  const [h, p, s] = token.split('.');
  const tampered = JSON.parse(Buffer.from(p!, 'base64url').toString());
  tampered.scope = 'system/*.cruds';
  refused(t, await whoami(`Bearer ${h}.${base64url.encode(JSON.stringify(tampered))}.${s}`));
});

t.test('a key added by another replica is picked up from the store', async (t) => {
  // Rotation through the same kv: this instance learns the new kid on first sight.
  const other = await buildAuthTestApp(t, { clients: [lab], engine: app.engine });
  await other.app.carnetAuth.keys.rotate();
  const token = await getAccessToken(other.app, lab, 'system/*.rs');
  t.equal((await whoami(`Bearer ${token}`)).statusCode, 200);
  const jwks = (await app.inject('/auth/jwks')).json();
  t.ok(jwks.keys.length >= 2);
});
