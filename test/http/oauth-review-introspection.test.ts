import t from 'tap';
import { JWT_BEARER_ASSERTION_TYPE } from '../../src/auth/client-assertion.js';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/server.js';
import { authorize, bearer, createTestClient, exchangeCode, signClientAssertion, tempDir, writeClientsFile } from '../helpers/tokens.js';
import type { TestClient } from '../helpers/tokens.js';
import { passwordHash } from '../helpers/people.js';

const PASSWORD = 'correct horse battery staple';
type Tap = { teardown: (fn: () => unknown) => void };

/**
 * buildCatalogueServer's set-up (an administrator, a care institution's
 * software `dpi`, Patient/ines with an account), plus a registered resource
 * server (`api`): introspection tells about another client's token to a
 * resource server only, no longer to any backend client such as dpi.
 */
async function buildServerWithResourceServer(t: Tap) {
  const dataDir = await tempDir(t, 'carnet-introspect-');
  const admin = await createTestClient({ clientId: 'catalogue-admin', kind: 'admin', scope: 'system/*.rs' });
  const system = await createTestClient({ clientId: 'dpi', scope: 'system/*.cruds' });
  const resourceServer = await createTestClient({ clientId: 'api', scope: 'system/Patient.r' });
  const clientsFile = await writeClientsFile(dataDir, [admin, system, { ...resourceServer.registration, resourceServer: true }]);
  const app = await buildServer({ config: loadConfig({}, { dataDir, clientsFile, publicUrl: 'http://carnet.test', logLevel: 'silent' }), logger: false });
  t.teardown(() => app.close());
  await app.ready();
  const systemAuth = await bearer(app, system, 'system/*.cruds');
  await app.inject({
    method: 'PUT', url: '/fhir/Patient/ines', headers: { authorization: systemAuth, 'content-type': 'application/fhir+json' },
    payload: { resourceType: 'Patient', id: 'ines', name: [{ family: 'Moreau', given: ['Inès'] }] },
  });
  await app.carnetAuth.accounts.create({ username: 'ines', passwordHash: await passwordHash(), kind: 'patient', fhirUser: 'Patient/ines', patients: ['ines'] });
  return { app, adminAuth: await bearer(app, admin, 'system/*.rs'), system, systemAuth, resourceServer };
}

/**
 * RFC 7662: introspection calls a token active only when the server would
 * honour it. An app's tokens stop once the holder withdraws her Consent (the
 * API answers 403 app-without-consent, the refresh grant invalid_grant), and
 * once the app is withdrawn from the catalogue (401): introspection then says
 * `active: false` for both its access and its refresh token.
 */
t.test('introspection follows the Consent and the catalogue', async (t) => {
  const { app, adminAuth, system, systemAuth, resourceServer } = await buildServerWithResourceServer(t);
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
  const introspectAs = async (caller: TestClient, token: string) => (await app.inject({
    method: 'POST', url: '/auth/introspect', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ token, client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await signClientAssertion(caller, 'http://carnet.test/auth/token') }).toString(),
  })).json() as { active: boolean };
  const introspect = (token: string) => introspectAs(resourceServer, token);
  const read = (token: string) => app.inject({ url: '/fhir/Observation/ines-obs', headers: { authorization: `Bearer ${token}` } });

  // The Consent is withdrawn: the API refuses the token, introspection says inactive.
  const first = await signIn();
  t.equal((await read(first.access_token)).statusCode, 200);
  t.match(await introspect(first.access_token), { active: true, client_id: 'mesures', patient: 'ines' });
  t.same(await introspectAs(system, first.access_token), { active: false }, 'a backend client that is no resource server learns nothing of another client\'s token');
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

  // A backend token is unaffected (asked by its own client, or by the resource server).
  t.match(await introspectAs(system, systemAuth.slice(7)), { active: true, client_id: 'dpi' });
  t.match(await introspect(systemAuth.slice(7)), { active: true, client_id: 'dpi' });
});
