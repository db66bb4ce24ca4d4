import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { JWT_BEARER_ASSERTION_TYPE } from '../../src/auth/client-assertion.js';
import { hashPassword } from '../../src/auth/oauth/accounts.js';
import { appClient, authorize, buildAuthTestApp, createTestClient, getAccessToken, signClientAssertion } from '../helpers/tokens.js';
import type { TestClient } from '../helpers/tokens.js';

const PASSWORD = 'correct horse battery';
const SCOPE = 'launch/patient openid fhirUser offline_access patient/Observation.rs';

/**
 * RFC 7662 §2.1 and §4: the authorization server decides who may learn what
 * about a token. Any confidential or backend client could introspect another
 * client's user token and learn whom it stands for (`patient`, `fhirUser`).
 * Now a client learns about the tokens issued to itself; only a registered
 * resource server (`resourceServer` in CLIENTS_FILE) about any token; every
 * other answer is `{ active: false }`.
 */
t.test('introspection: a client learns about its own tokens only', async (t) => {
  const { app, lab, secret } = await setUp(t, false);
  const tokens = await signIn(app, 'diary', secret);
  for (const [name, introspect] of [['another app', asApp(app, 'other-app', secret)], ['a backend client', asBackend(app, lab)]] as const) {
    t.same(await introspect(tokens.access_token), { active: false }, `${name} learns nothing of diary's access token`);
    t.same(await introspect(tokens.refresh_token), { active: false }, `${name} learns nothing of its refresh token`);
  }
  t.match(await asApp(app, 'diary', secret)(tokens.access_token), { active: true, client_id: 'diary', patient: 'p1', fhirUser: 'Patient/p1' }, 'diary learns about its own token');
  t.match(await asApp(app, 'diary', secret)(tokens.refresh_token), { active: true, token_type: 'refresh_token', patient: 'p1' });
  const labToken = await getAccessToken(app, lab, 'system/*.rs');
  t.match(await asBackend(app, lab)(labToken), { active: true, client_id: 'lab' }, 'a backend client learns about its own token');
  t.same(await asApp(app, 'diary', secret)(labToken), { active: false }, 'an app learns nothing of a backend token');
});

t.test('introspection: a registered resource server learns about any token', async (t) => {
  const { app, lab, api, secret } = await setUp(t, true);
  const tokens = await signIn(app, 'diary', secret);
  t.match(await asBackend(app, api!)(tokens.access_token), { active: true, client_id: 'diary', patient: 'p1', fhirUser: 'Patient/p1' }, 'whom the token stands for');
  t.match(await asBackend(app, api!)(tokens.refresh_token), { active: true, token_type: 'refresh_token' });
  t.match(await asBackend(app, api!)(await getAccessToken(app, lab, 'system/*.rs')), { active: true, client_id: 'lab' });
  t.same(await asBackend(app, lab)(tokens.access_token), { active: false }, 'still not a backend client that is no resource server');
});

/** An auth server with lab (backend), two confidential apps, alice; and `api` registered as a resource server when asked. */
async function setUp(t: Tap, withResourceServer: boolean) {
  const lab = await createTestClient({ clientId: 'lab', scope: 'system/*.cruds' });
  const api = withResourceServer ? await createTestClient({ clientId: 'api', scope: 'system/Patient.r' }) : undefined;
  const secret = 'app-secret-value';
  const { app } = await buildAuthTestApp(t, {
    clients: [
      lab, ...(api ? [{ ...api.registration, resourceServer: true }] : []),
      appClient({ clientId: 'diary', scope: SCOPE, clientSecretHash: await hashPassword(secret) }),
      appClient({ clientId: 'other-app', scope: SCOPE, clientSecretHash: await hashPassword(secret) }),
    ],
  });
  await app.carnetAuth.accounts.create({ username: 'alice', password: PASSWORD, kind: 'patient', fhirUser: 'Patient/p1' });
  return { app, lab, api, secret };
}
type Tap = Parameters<typeof buildAuthTestApp>[0];

const asBackend = (app: FastifyInstance, caller: TestClient) => async (token: string) => (await app.inject({
  method: 'POST', url: '/auth/introspect', headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams({ token, client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await signClientAssertion(caller, 'http://carnet.test/auth/token') }).toString(),
})).json();
const asApp = (app: FastifyInstance, clientId: string, secret: string) => async (token: string) => (await app.inject({
  method: 'POST', url: '/auth/introspect',
  headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
  payload: new URLSearchParams({ token }).toString(),
})).json();

/** The authorization code flow for a confidential app (client_secret_basic): its tokens. */
async function signIn(app: FastifyInstance, clientId: string, secret: string): Promise<{ access_token: string; refresh_token: string }> {
  const { location, verifier } = await authorize(app, { clientId, username: 'alice', password: PASSWORD, scope: SCOPE });
  const res = await app.inject({
    method: 'POST', url: '/auth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
    payload: new URLSearchParams({ grant_type: 'authorization_code', code: location.searchParams.get('code')!, redirect_uri: 'https://app.test/callback', code_verifier: verifier }).toString(),
  });
  if (res.statusCode !== 200) throw new Error(`exchange: ${res.statusCode} ${res.body}`);
  return res.json() as { access_token: string; refresh_token: string };
}
