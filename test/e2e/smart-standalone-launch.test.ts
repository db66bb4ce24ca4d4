import t from 'tap';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { freePort } from '../helpers/child-server.js';
import { APPS, buildSpace, observation, PASSWORD, seed } from '../helpers/people.js';
import { appClient, createTestClient } from '../helpers/tokens.js';

/**
 * One SMART standalone launch on a real port, driven by an independent OAuth
 * client (openid-client by panva): SMART discovery, authorize with PKCE S256,
 * the sign-in and consent forms posted over HTTP as an integrator would script
 * them, code exchange, id_token checked against the JWKS, a FHIR read, refresh
 * rotation and introspection.
 */
const REDIRECT_URI = 'https://app.test/callback';
const SCOPE = 'launch/patient openid fhirUser offline_access patient/Observation.rs';

/** The hidden request_id of a page, and every scope checkbox it offers. */
function formFields(html: string): { requestId: string; scopes: string[] } {
  const requestId = /name="request_id" value="([^"]+)"/.exec(html)?.[1];
  if (!requestId) throw new Error(`no request_id in ${html.slice(0, 200)}`);
  return { requestId, scopes: [...html.matchAll(/name="scope" value="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&')) };
}

async function postForm(url: string, form: URLSearchParams): Promise<Response> {
  return fetch(url, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual' });
}

t.test('SMART standalone launch with openid-client', async (t) => {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  // The holder's app, and a resource server: only a client registered as one introspects another client's tokens.
  const api = await createTestClient({ clientId: 'resource-server', scope: 'system/Patient.r' });
  const apps = [appClient({ clientId: APPS.holder, scope: 'patient/*.cruds openid fhirUser launch/patient offline_access' }), { ...api.registration, resourceServer: true }];
  const space = await buildSpace(t, { config: { port, publicUrl }, apps });
  await space.app.listen({ host: '127.0.0.1', port });
  const fhirBase = `${publicUrl}/fhir`;
  const weight = await seed(space, observation(space.alice, 'vital-signs'));

  // Discovery: JSON whatever the Accept header says.
  const discovered = await fetch(`${fhirBase}/.well-known/smart-configuration`, { headers: { accept: 'text/html' } });
  t.equal(discovered.status, 200);
  t.match(discovered.headers.get('content-type'), /^application\/json/);
  const smart = (await discovered.json()) as client.ServerMetadata & { capabilities: string[] };
  t.equal(smart.issuer, publicUrl);
  t.same(smart.code_challenge_methods_supported, ['S256']);
  t.ok(['launch-standalone', 'context-standalone-patient', 'sso-openid-connect', 'permission-offline', 'client-public'].every((c) => smart.capabilities.includes(c)), 'standalone patient launch capabilities');

  // Responses of the token endpoint, as the client library received them (headers included).
  const tokenResponses: Response[] = [];
  const config = new client.Configuration(smart, APPS.holder, { redirect_uris: [REDIRECT_URI], id_token_signed_response_alg: 'RS256' }, client.None());
  client.allowInsecureRequests(config);
  config[client.customFetch] = async (url, options) => {
    const res = await fetch(url, options as RequestInit);
    if (url === smart.token_endpoint) tokenResponses.push(res.clone());
    return res;
  };

  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizeUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI, scope: SCOPE, state, nonce, aud: fhirBase,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  t.equal(authorizeUrl.origin + authorizeUrl.pathname, smart.authorization_endpoint, 'the library builds on the discovered endpoint');

  // The person's side: the sign-in form, then the consent form (documented field names).
  const page = await fetch(authorizeUrl);
  t.equal(page.status, 200);
  const signedIn = await postForm(`${publicUrl}/auth/authorize/sign-in`, new URLSearchParams({ request_id: formFields(await page.text()).requestId, username: space.users.alice, password: PASSWORD }));
  t.equal(signedIn.status, 200);
  const consent = formFields(await signedIn.text());
  t.same(consent.scopes.sort(), SCOPE.split(' ').sort(), 'the consent page offers each asked scope');
  const form = new URLSearchParams({ request_id: consent.requestId, decision: 'approve' });
  for (const scope of consent.scopes) form.append('scope', scope);
  const back = await postForm(`${publicUrl}/auth/authorize/consent`, form);
  t.equal(back.status, 302);
  const callback = new URL(back.headers.get('location')!);
  t.equal(callback.origin + callback.pathname, REDIRECT_URI);
  t.equal(callback.searchParams.get('state'), state, 'state comes back');

  // Code exchange by the library (it checks state, PKCE, and the id_token claims and nonce).
  const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
  t.equal(tokens.token_type.toLowerCase(), 'bearer');
  t.same(tokens.scope!.split(' ').sort(), SCOPE.split(' ').sort(), 'every scope granted');
  t.equal(tokens.patient, space.alice.slice('Patient/'.length), 'launch/patient gives the patient');
  t.ok(tokens.refresh_token, 'offline_access gives a refresh token');
  t.ok((tokens.expires_in ?? 0) > 0);
  t.match(tokenResponses[0]!.headers.get('cache-control'), /no-store/);
  t.match(tokenResponses[0]!.headers.get('pragma'), /no-cache/);

  // The id_token, verified independently with the JWKS the discovery names.
  const { payload, protectedHeader } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(smart.jwks_uri!)), { issuer: publicUrl, audience: APPS.holder });
  t.equal(protectedHeader.alg, 'RS256');
  t.equal(payload.nonce, nonce);
  t.equal(payload.fhirUser, `${fhirBase}/${space.alice}`, 'fhirUser names the holder');

  // FHIR with the token: the observation and the fhirUser resource.
  const read = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${fhirBase}/Observation/${weight}`), 'GET');
  t.equal(read.status, 200);
  t.equal(((await read.json()) as { id: string }).id, weight);
  const me = await client.fetchProtectedResource(config, tokens.access_token, new URL(String(payload.fhirUser)), 'GET');
  t.equal(me.status, 200, 'the fhirUser resource can be read with the access token');
  const notGranted = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${fhirBase}/DocumentReference?patient=${space.alice}`), 'GET');
  t.equal(notGranted.status, 403, 'nothing beyond the granted scopes');

  // Introspection, by a resource server (a confidential backend client registered with resourceServer, private_key_jwt).
  const tokenEndpoint = smart.token_endpoint!;
  const resourceServer = new client.Configuration(smart, api.clientId, { token_endpoint_auth_signing_alg: api.alg }, client.PrivateKeyJwt(
    { key: api.privateKey, kid: api.kid },
    { [client.modifyAssertion]: (_header, payload) => { payload.aud = tokenEndpoint; } },
  ));
  client.allowInsecureRequests(resourceServer);
  const publicIntrospection = await client.tokenIntrospection(config, tokens.access_token).then(() => undefined, (err: unknown) => err);
  t.equal((publicIntrospection as client.ResponseBodyError | undefined)?.error, 'invalid_client', 'a public app cannot introspect (it cannot authenticate)');
  const described = await client.tokenIntrospection(resourceServer, tokens.access_token);
  t.match(described, { active: true, client_id: APPS.holder, patient: tokens.patient, fhirUser: space.alice, iss: publicUrl });
  t.same(String(described.scope).split(' ').sort(), SCOPE.split(' ').sort());
  t.ok(Number(described.exp) > Date.now() / 1000);
  t.ok(described.sub);
  t.same(await client.tokenIntrospection(resourceServer, 'not-a-token'), { active: false }, 'anything unknown is inactive');

  // Refresh rotates: the new pair works, the old refresh token is refused (and its family revoked).
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
  t.not(refreshed.refresh_token, tokens.refresh_token, 'a new refresh token');
  t.match(tokenResponses.at(-1)!.headers.get('cache-control'), /no-store/);
  t.equal((await client.fetchProtectedResource(config, refreshed.access_token, new URL(`${fhirBase}/Observation/${weight}`), 'GET')).status, 200, 'the new access token reads');
  t.match(await client.tokenIntrospection(resourceServer, refreshed.refresh_token!, { token_type_hint: 'refresh_token' }), { active: true, token_type: 'refresh_token' });
  const reuse = await client.refreshTokenGrant(config, tokens.refresh_token!).then(() => undefined, (err: unknown) => err);
  t.ok(reuse instanceof client.ResponseBodyError, 'the old refresh token is refused');
  t.equal((reuse as client.ResponseBodyError).error, 'invalid_grant');
  t.same(await client.tokenIntrospection(resourceServer, refreshed.refresh_token!, { token_type_hint: 'refresh_token' }), { active: false }, 'replaying the old one revoked the whole family');
});
