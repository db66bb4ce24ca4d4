import t from 'tap';
import { validateClients } from '../../src/auth/clients.js';
import { authorize, createTestClient, exchangeCode } from '../helpers/tokens.js';
import { buildCatalogueServer } from '../helpers/people.js';

/**
 * The catalogue of referenced apps: an administrator registers, references and
 * withdraws an app; a patient approves it (which writes her Consent); the app
 * reads her space only while it is referenced and while the Consent stands.
 */
t.test('catalogue lifecycle and app consent', async (t) => {
  // A patient with an account (Patient/ines), and an Observation in her space.
  const { app, adminAuth, systemAuth } = await buildCatalogueServer(t, 'carnet-catalogue-');
  const obs = await app.inject({ method: 'POST', url: '/fhir/Observation', headers: { authorization: systemAuth, 'content-type': 'application/fhir+json' }, payload: { resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject: { reference: 'Patient/ines' } } });
  const obsId = obs.json().id as string;

  t.equal((await app.inject({ method: 'POST', url: '/admin/apps', headers: { authorization: systemAuth, 'content-type': 'application/json' }, payload: { name: 'x', redirectUris: ['https://x.test/cb'], scope: 'patient/*.rs' } })).statusCode, 403, 'only admin clients manage the catalogue');
  t.equal((await app.inject({ method: 'POST', url: '/admin/apps', headers: { authorization: adminAuth, 'content-type': 'application/json' }, payload: { name: 'x' } })).statusCode, 400, 'a registration is validated');
  const unenforceable = await app.inject({ method: 'POST', url: '/admin/apps', headers: { authorization: adminAuth, 'content-type': 'application/json' }, payload: { name: 'x', redirectUris: ['https://x.test/cb'], scope: 'patient/Observation.rs?subject.name=x' } });
  t.equal(unenforceable.statusCode, 400, 'a scope restriction the policy cannot enforce is refused at registration');
  t.match(unenforceable.json().issue[0].diagnostics, /cannot be enforced/);
  const counting = await createTestClient({ clientId: 'counting', scope: 'system/Observation.rs?_count=1' });
  t.throws(() => validateClients([counting.registration], 'clients.json'), /cannot be enforced/, 'and in CLIENTS_FILE');

  const registered = await app.inject({
    method: 'POST', url: '/admin/apps', headers: { authorization: adminAuth, 'content-type': 'application/json' },
    payload: { clientId: 'mesures', name: 'Mes mesures', description: 'Self-measures', redirectUris: ['https://mesures.test/cb'], public: true, scope: 'launch/patient openid fhirUser offline_access patient/Observation.rs' },
  });
  t.equal(registered.statusCode, 201);
  t.equal(registered.json().status, 'registered');
  t.same((await app.inject({ url: '/catalogue' })).json().apps, [], 'not referenced yet: not in the public catalogue');

  const flow = { clientId: 'mesures', redirectUri: 'https://mesures.test/cb', username: 'ines', password: 'correct horse battery staple', scope: 'launch/patient offline_access patient/Observation.rs' };
  await t.rejects(authorize(app, flow), /authorize failed: 400/, 'an app that is only registered cannot be authorised');

  t.equal((await app.inject({ method: 'POST', url: '/admin/apps/mesures/reference', headers: { authorization: adminAuth } })).json().status, 'referenced');
  t.match((await app.inject({ url: '/catalogue' })).json().apps, [{ clientId: 'mesures', name: 'Mes mesures', public: true }]);

  const { location, verifier } = await authorize(app, flow);
  const token = await exchangeCode(app, location.searchParams.get('code')!, verifier, 'mesures', 'https://mesures.test/cb');
  t.equal(token.statusCode, 200);
  const { access_token: accessToken, refresh_token: refreshToken, patient } = token.json();
  t.equal(patient, 'ines');
  const appAuth = `Bearer ${accessToken}`;

  const consents = await app.inject({ url: '/fhir/Consent?patient=Patient/ines&status=active', headers: { authorization: systemAuth } });
  const consent = consents.json().entry?.[0]?.resource;
  t.match(consent, { status: 'active', provision: { type: 'permit', actor: [{ reference: { identifier: { system: 'urn:carnet:client-id', value: 'mesures' } } }] } }, 'approving the app wrote her Consent');

  t.equal((await app.inject({ url: `/fhir/Observation/${obsId}`, headers: { authorization: appAuth } })).statusCode, 200, 'the app reads her Observation');
  t.equal((await app.inject({ url: '/fhir/Patient/ines', headers: { authorization: appAuth } })).statusCode, 403, 'but only what its scopes cover');

  // She withdraws her consent: the app's access and refresh stop at once.
  const withdrawn = await app.inject({ method: 'PUT', url: `/fhir/Consent/${consent.id}`, headers: { authorization: systemAuth, 'content-type': 'application/fhir+json' }, payload: { ...consent, status: 'inactive' } });
  t.equal(withdrawn.statusCode, 200);
  const refused = await app.inject({ url: `/fhir/Observation/${obsId}`, headers: { authorization: appAuth } });
  t.equal(refused.statusCode, 403);
  t.match(refused.json().issue[0].diagnostics, /app-without-consent/);
  const refresh = await app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'mesures' }).toString() });
  t.equal(refresh.statusCode, 400);
  t.equal(refresh.json().error, 'invalid_grant');

  // Approving again restores access; withdrawing the app from the catalogue kills its tokens.
  const again = await authorize(app, flow);
  const token2 = (await exchangeCode(app, again.location.searchParams.get('code')!, again.verifier, 'mesures', 'https://mesures.test/cb')).json();
  t.equal((await app.inject({ url: `/fhir/Observation/${obsId}`, headers: { authorization: `Bearer ${token2.access_token}` } })).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/admin/apps/mesures/withdraw', headers: { authorization: adminAuth } })).json().status, 'withdrawn');
  t.equal((await app.inject({ url: `/fhir/Observation/${obsId}`, headers: { authorization: `Bearer ${token2.access_token}` } })).statusCode, 401, 'a withdrawn app\'s tokens stop working at once');
  t.same((await app.inject({ url: '/catalogue' })).json().apps, []);
});
