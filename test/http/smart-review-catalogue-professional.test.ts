import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { buildCatalogueServer, FHIR_JSON, passwordHash, PASSWORD, VISIBILITY } from '../helpers/people.js';
import { exchangeCode, offeredScopes, pkcePair, requestIdOf } from '../helpers/tokens.js';

const REDIRECT = 'https://coach.test/cb';
const SCOPE = 'launch/patient openid fhirUser offline_access patient/*.rs';

/**
 * A catalogue app acts for a patient who consents (DOMAIN: referenced
 * services reach a space "only with the holder's express consent, per
 * service"). A professional whose account lists patients, signing in through
 * one, was offered a patient picker and every patient/ scope: the app then
 * read the patient's space (a document she masked included) as her regular
 * doctor, with no Consent of hers. Now a professional gets `openid fhirUser`
 * from a catalogue app and nothing of any space, whatever the form posts.
 */
t.test('a catalogue app gives a professional openid fhirUser only', async (t) => {
  const { app, adminAuth, systemAuth } = await buildCatalogueServer(t, 'carnet-smart-review-pro-');
  const put = async (resource: Record<string, unknown> & { resourceType: string; id: string }) => {
    const res = await app.inject({ method: 'PUT', url: `/fhir/${resource.resourceType}/${resource.id}`, headers: { authorization: systemAuth, 'content-type': FHIR_JSON }, payload: resource });
    t.ok(res.statusCode === 200 || res.statusCode === 201, `${resource.resourceType}/${resource.id} stored`);
  };
  // Dr Roux is Inès's regular doctor, and his account lists her; she masked a document from professionals.
  await put({ resourceType: 'Practitioner', id: 'dr-roux', name: [{ family: 'Roux' }] });
  await put({ resourceType: 'Patient', id: 'ines', name: [{ family: 'Moreau', given: ['Inès'] }], generalPractitioner: [{ reference: 'Practitioner/dr-roux' }] });
  await put({ resourceType: 'Observation', id: 'ines-weight', status: 'final', code: { text: 'poids' }, subject: { reference: 'Patient/ines' } });
  await put({
    resourceType: 'DocumentReference', id: 'ines-masked', status: 'current', subject: { reference: 'Patient/ines' },
    securityLabel: [{ coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }],
    content: [{ attachment: { contentType: 'text/plain', url: 'http://example.org/masked.txt' } }],
  });
  await app.carnetAuth.accounts.create({ username: 'dr.roux', passwordHash: await passwordHash(), kind: 'practitioner', fhirUser: 'Practitioner/dr-roux', patients: ['ines'] });
  const registered = await app.inject({
    method: 'POST', url: '/admin/apps', headers: { authorization: adminAuth, 'content-type': 'application/json' },
    payload: { clientId: 'coach', name: 'Coach', redirectUris: [REDIRECT], public: true, scope: SCOPE },
  });
  t.equal(registered.statusCode, 201);
  t.equal((await app.inject({ method: 'POST', url: '/admin/apps/coach/reference', headers: { authorization: adminAuth } })).statusCode, 200);

  // The consent page offers the professional who he is, and nothing else: no data scope, no patient to choose.
  const signedIn = await signIn(app, 'coach', 'dr.roux', SCOPE);
  t.equal(signedIn.page.statusCode, 200);
  t.same(offeredScopes(signedIn.page.body), ['openid', 'fhirUser'], 'only openid fhirUser is offered to a professional');
  t.notMatch(signedIn.page.body, /name="patient"/, 'no patient picker');

  // A form ticking what was not offered, and naming his patient, gets no more.
  const tampered = await consent(app, signedIn.requestId, ['openid', 'fhirUser', 'launch/patient', 'offline_access', 'patient/*.rs'], 'ines');
  const code = tampered.searchParams.get('code');
  t.ok(code, 'the professional may still sign in through the app');
  const token = await exchangeCode(app, code!, signedIn.verifier, 'coach', REDIRECT);
  t.equal(token.statusCode, 200);
  const tokens = token.json() as { access_token: string; scope: string; patient?: string; refresh_token?: string; id_token?: string };
  t.equal(tokens.scope, 'openid fhirUser', 'the grant is his identity only');
  t.equal(tokens.patient, undefined, 'bound to no patient');
  t.equal(tokens.refresh_token, undefined, 'no offline access');
  t.equal(decodeJwt(tokens.id_token!).fhirUser, 'http://carnet.test/fhir/Practitioner/dr-roux', 'the id_token says who he is');
  const claims = decodeJwt(tokens.access_token);
  t.equal(claims.kind, 'practitioner');
  t.equal(claims.patient, undefined);

  const read = (url: string) => app.inject({ url, headers: { authorization: `Bearer ${tokens.access_token}` } });
  t.equal((await read('/fhir/Practitioner/dr-roux')).statusCode, 200, 'the app may read who he is (fhirUser)');
  for (const url of ['/fhir/Patient/ines', '/fhir/DocumentReference/ines-masked', '/fhir/Observation/ines-weight', '/fhir/Observation?patient=ines', '/fhir/DocumentReference?patient=ines']) {
    const res = await read(url);
    t.equal(res.statusCode, 403, `${url}: nothing of her space through the app`);
  }

  // Asking for data only: nothing this account can give, so back to the app without a code.
  const dataOnly = await signIn(app, 'coach', 'dr.roux', 'launch/patient patient/*.rs');
  t.equal(dataOnly.page.statusCode, 302);
  const back = new URL(String(dataOnly.page.headers.location));
  t.equal(back.searchParams.get('error'), 'access_denied');
  t.notOk(back.searchParams.get('code'));

  // The holder herself still gives the app her data, under her Consent.
  const holder = await signIn(app, 'coach', 'ines', SCOPE);
  t.same(offeredScopes(holder.page.body).sort(), SCOPE.split(' ').sort(), 'the holder is offered what the app asks');
  const holderCode = (await consent(app, holder.requestId, offeredScopes(holder.page.body))).searchParams.get('code')!;
  const holderTokens = (await exchangeCode(app, holderCode, holder.verifier, 'coach', REDIRECT)).json() as { access_token: string; patient: string };
  t.equal(holderTokens.patient, 'ines');
  t.equal((await app.inject({ url: '/fhir/Observation/ines-weight', headers: { authorization: `Bearer ${holderTokens.access_token}` } })).statusCode, 200);
  const consents = (await app.inject({ url: '/fhir/Consent?patient=Patient/ines&status=active', headers: { authorization: systemAuth } })).json() as { entry?: unknown[] };
  t.equal(consents.entry?.length, 1, 'one Consent, hers; none was written for the professional');
});

t.test('a catalogue entry holding user/ scopes (registered before they were refused) never grants them', async (t) => {
  const { app, systemAuth } = await buildCatalogueServer(t, 'carnet-smart-review-legacy-');
  await app.inject({ method: 'PUT', url: '/fhir/Practitioner/dr-roux', headers: { authorization: systemAuth, 'content-type': FHIR_JSON }, payload: { resourceType: 'Practitioner', id: 'dr-roux' } });
  await app.carnetAuth.accounts.create({ username: 'dr.roux', passwordHash: await passwordHash(), kind: 'practitioner', fhirUser: 'Practitioner/dr-roux', patients: ['ines'] });
  // Written in the store as the registration of an earlier release accepted it.
  await app.carnetAuth.catalogue.register({
    clientId: 'legacy', name: 'Legacy', redirectUris: [REDIRECT], tokenEndpointAuthMethod: 'none', scope: 'openid fhirUser launch/patient user/*.cruds patient/*.rs',
  });
  await app.carnetAuth.catalogue.setStatus('legacy', 'referenced');
  const scope = 'openid fhirUser launch/patient user/*.rs patient/*.rs';
  t.same(offeredScopes((await signIn(app, 'legacy', 'dr.roux', scope)).page.body), ['openid', 'fhirUser'], 'the professional: his identity only');
  t.same(offeredScopes((await signIn(app, 'legacy', 'ines', scope)).page.body).sort(), ['fhirUser', 'launch/patient', 'openid', 'patient/*.rs'], 'the holder: no user/ scope either');
});

/** GET /auth/authorize then the sign-in form: the sign-in response, its request id when it shows the consent page, the PKCE verifier. */
async function signIn(app: FastifyInstance, clientId: string, username: string, scope: string) {
  const { verifier, challenge } = pkcePair();
  const query = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope, state: 's', aud: 'http://carnet.test/fhir',
    code_challenge: challenge, code_challenge_method: 'S256',
  });
  const start = await app.inject({ url: `/auth/authorize?${query}` });
  if (start.statusCode !== 200) throw new Error(`authorize: ${start.statusCode} ${start.body.slice(0, 200)}`);
  const page = await app.inject({
    method: 'POST', url: '/auth/authorize/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ request_id: requestIdOf(start.body), username, password: PASSWORD }).toString(),
  });
  return { page, verifier, requestId: page.statusCode === 200 ? requestIdOf(page.body) : '' };
}

/** Posts the consent form with exactly these scopes ticked (and this patient): the redirect back to the app. */
async function consent(app: FastifyInstance, requestId: string, scopes: string[], patient?: string): Promise<URL> {
  const form = new URLSearchParams({ request_id: requestId, decision: 'approve' });
  for (const scope of scopes) form.append('scope', scope);
  if (patient) form.set('patient', patient);
  const res = await app.inject({ method: 'POST', url: '/auth/authorize/consent', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form.toString() });
  if (res.statusCode !== 302) throw new Error(`consent: ${res.statusCode} ${res.body.slice(0, 300)}`);
  return new URL(String(res.headers.location));
}
