import t from 'tap';
import { JWT_BEARER_ASSERTION_TYPE } from '../../src/auth/client-assertion.js';
import { authorize, exchangeCode, signClientAssertion } from '../helpers/tokens.js';
import { buildCatalogueServer } from '../helpers/people.js';

const PASSWORD = 'correct horse battery staple';

/**
 * RFC 7662: introspection calls a token active only when the server would
 * honour it. An app's tokens stop once the holder withdraws her Consent (the
 * API answers 403 app-without-consent, the refresh grant invalid_grant), and
 * once the app is withdrawn from the catalogue (401): introspection then says
 * `active: false` for both its access and its refresh token.
 */
t.test('introspection follows the Consent and the catalogue', async (t) => {
  const { app, adminAuth, system, systemAuth } = await buildCatalogueServer(t, 'carnet-introspect-');
  const json = { 'content-type': 'application/json' };
  await app.inject({
    method: 'PUT', url: '/fhir/Observation/ines-obs', headers: { authorization: systemAuth, 'content-type': 'application/fhir+json' },
    payload: { resourceType: 'Observation', id: 'ines-obs', status: 'final', code: { text: 'poids' }, subject: { reference: 'Patient/ines' } },
  });
  await app.inject({
    method: 'POST', url: '/admin/apps', headers: { authorization: adminAuth, ...json },
    payload: { clientId: 'mesures', name: 'Mes mesures', redirectUris: ['https://mesures.test/cb'], public: true, scope: 'launch/patient offline_access patient/Observation.rs' },
  });
  t.equal((await app.inject({ method: 'POST', url: '/admin/apps/mesures/reference', headers: { authorization: adminAuth } })).statusCode, 200);

  const signIn = async () => {
    const flow = { clientId: 'mesures', redirectUri: 'https://mesures.test/cb', username: 'ines', password: PASSWORD, scope: 'launch/patient offline_access patient/Observation.rs' };
    const { location, verifier } = await authorize(app, flow);
    const res = await exchangeCode(app, location.searchParams.get('code')!, verifier, 'mesures', 'https://mesures.test/cb');
    t.equal(res.statusCode, 200);
    return res.json() as { access_token: string; refresh_token: string };
  };
  const introspect = async (token: string) => (await app.inject({
    method: 'POST', url: '/auth/introspect', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ token, client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await signClientAssertion(system, 'http://carnet.test/auth/token') }).toString(),
  })).json() as { active: boolean };
  const read = (token: string) => app.inject({ url: '/fhir/Observation/ines-obs', headers: { authorization: `Bearer ${token}` } });

  // The Consent is withdrawn: the API refuses the token, introspection says inactive.
  const first = await signIn();
  t.equal((await read(first.access_token)).statusCode, 200);
  t.match(await introspect(first.access_token), { active: true, client_id: 'mesures', patient: 'ines' });
  t.match(await introspect(first.refresh_token), { active: true, token_type: 'refresh_token' });
  const consent = (await app.inject({ url: '/fhir/Consent?patient=Patient/ines&status=active', headers: { authorization: systemAuth } })).json().entry[0].resource;
  const put = await app.inject({ method: 'PUT', url: `/fhir/Consent/${consent.id}`, headers: { authorization: systemAuth, 'content-type': 'application/fhir+json' }, payload: { ...consent, status: 'inactive' } });
  t.equal(put.statusCode, 200);
  t.equal((await read(first.access_token)).statusCode, 403, 'the API refuses the token');
  t.same(await introspect(first.access_token), { active: false }, 'the access token is inactive once the Consent is withdrawn');
  t.same(await introspect(first.refresh_token), { active: false }, 'so is the refresh token');

  // The app is withdrawn from the catalogue: same.
  const second = await signIn();
  t.match(await introspect(second.access_token), { active: true });
  t.equal((await app.inject({ method: 'POST', url: '/admin/apps/mesures/withdraw', headers: { authorization: adminAuth } })).statusCode, 200);
  t.equal((await read(second.access_token)).statusCode, 401, 'the API refuses the token');
  t.same(await introspect(second.access_token), { active: false }, 'a withdrawn app\'s access token is inactive');
  t.same(await introspect(second.refresh_token), { active: false }, 'and its refresh token');

  // A backend token is unaffected.
  t.match(await introspect(systemAuth.slice(7)), { active: true, client_id: 'dpi' });
});
