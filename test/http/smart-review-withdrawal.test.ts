import t from 'tap';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/server.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import { passwordHash, PASSWORD } from '../helpers/people.js';
import { authorize, bearer, createTestClient, tempDir, writeClientsFile } from '../helpers/tokens.js';

const REDIRECT = 'https://mesures.test/cb';
const SCOPE = 'launch/patient offline_access patient/Observation.rs';
const FHIR_JSON = 'application/fhir+json';
type Tap = { teardown: (fn: () => unknown) => void };
interface Tokens { access_token: string; refresh_token: string }

/**
 * Two replicas on one store (what DESIGN asks of every piece of shared state):
 * the catalogue's administrator, a care institution's software (dpi),
 * Patient/ines with an account and an Observation, and the confidential
 * catalogue app `mesures` (client_secret_basic, so that it may introspect its
 * own tokens), referenced.
 */
async function buildReplicas(t: Tap) {
  const dataDir = await tempDir(t, 'carnet-smart-review-withdrawal-');
  const admin = await createTestClient({ clientId: 'catalogue-admin', kind: 'admin', scope: 'system/*.rs' });
  const system = await createTestClient({ clientId: 'dpi', scope: 'system/*.cruds' });
  const config = loadConfig({}, { dataDir, clientsFile: await writeClientsFile(dataDir, [admin, system]), publicUrl: 'http://carnet.test', logLevel: 'silent' });
  const engine = createEmbeddedEngine({ dataDir: path.join(dataDir, 'store'), log: { warn: () => undefined, info: () => undefined } });
  await engine.open();
  const a = await buildServer({ config, logger: false, engine });
  const b = await buildServer({ config, logger: false, engine });
  t.teardown(async () => {
    await a.close();
    await b.close();
    await engine.close();
  });
  await a.ready();
  await b.ready();
  const adminAuth = await bearer(a, admin, 'system/*.rs');
  const systemAuth = await bearer(a, system, 'system/*.cruds');
  for (const resource of [
    { resourceType: 'Patient', id: 'ines', name: [{ family: 'Moreau', given: ['Inès'] }] },
    { resourceType: 'Observation', id: 'ines-obs', status: 'final', code: { text: 'poids' }, subject: { reference: 'Patient/ines' } },
  ]) {
    const res = await a.inject({ method: 'PUT', url: `/fhir/${resource.resourceType}/${resource.id}`, headers: { authorization: systemAuth, 'content-type': FHIR_JSON }, payload: resource });
    if (res.statusCode !== 201) throw new Error(`seeding: ${res.statusCode} ${res.body}`);
  }
  await a.carnetAuth.accounts.create({ username: 'ines', passwordHash: await passwordHash(), kind: 'patient', fhirUser: 'Patient/ines', patients: ['ines'] });
  const registered = await a.inject({
    method: 'POST', url: '/admin/apps', headers: { authorization: adminAuth, 'content-type': 'application/json' },
    payload: { clientId: 'mesures', name: 'Mes mesures', redirectUris: [REDIRECT], scope: SCOPE },
  });
  if (registered.statusCode !== 201) throw new Error(`registration: ${registered.body}`);
  await a.inject({ method: 'POST', url: '/admin/apps/mesures/reference', headers: { authorization: adminAuth } });
  const basic = `Basic ${Buffer.from(`mesures:${(registered.json() as { clientSecret: string }).clientSecret}`).toString('base64')}`;
  /** A form posted by the app to one of the OAuth endpoints, authenticated with its secret. */
  const asApp = (app: FastifyInstance, url: string, form: Record<string, string>) => app.inject({
    method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic }, payload: new URLSearchParams(form).toString(),
  });
  return { a, b, adminAuth, systemAuth, asApp };
}
type AsApp = Awaited<ReturnType<typeof buildReplicas>>['asApp'];

/** Inès authorises `mesures` on `app`: the redirect's code and its verifier. */
async function approve(app: FastifyInstance): Promise<{ code: string; verifier: string }> {
  const { location, verifier } = await authorize(app, { clientId: 'mesures', redirectUri: REDIRECT, username: 'ines', password: PASSWORD, scope: SCOPE });
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code: ${location}`);
  return { code, verifier };
}

const exchange = (asApp: AsApp, app: FastifyInstance, { code, verifier }: { code: string; verifier: string }) =>
  asApp(app, '/auth/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });

async function signIn(asApp: AsApp, app: FastifyInstance): Promise<Tokens> {
  const res = await exchange(asApp, app, await approve(app));
  if (res.statusCode !== 200) throw new Error(`exchange: ${res.statusCode} ${res.body}`);
  return res.json() as Tokens;
}

const read = (app: FastifyInstance, token: string, url = '/fhir/Observation/ines-obs') => app.inject({ url, headers: { authorization: `Bearer ${token}` } });
const refresh = (asApp: AsApp, app: FastifyInstance, token: string) => asApp(app, '/auth/token', { grant_type: 'refresh_token', refresh_token: token });
const introspect = async (asApp: AsApp, app: FastifyInstance, token: string) => (await asApp(app, '/auth/introspect', { token })).json() as { active: boolean };

t.test('withdrawing an app from the catalogue ends its tokens for good: referencing it again revives none', async (t) => {
  const { a, b, adminAuth, asApp } = await buildReplicas(t);
  const before = await signIn(asApp, a);
  const pendingCode = await approve(b);
  t.equal((await read(b, before.access_token)).statusCode, 200, 'the token works on both replicas');

  t.equal((await a.inject({ method: 'POST', url: '/admin/apps/mesures/withdraw', headers: { authorization: adminAuth } })).json().status, 'withdrawn');
  t.equal((await read(b, before.access_token)).statusCode, 401, 'withdrawn on one replica: refused on the other at once');
  t.equal((await b.inject({ method: 'POST', url: '/admin/apps/mesures/reference', headers: { authorization: adminAuth } })).json().status, 'referenced');

  const old = await read(a, before.access_token);
  t.equal(old.statusCode, 401, 'referenced again: the old access token stays refused');
  t.match(old.headers['www-authenticate'], /invalid_token/);
  t.match(old.json().issue[0].diagnostics, /withdrawn from the catalogue after this token was issued/);
  const oldRefresh = await refresh(asApp, b, before.refresh_token);
  t.equal(oldRefresh.statusCode, 400);
  t.equal(oldRefresh.json().error, 'invalid_grant', 'so does the old refresh token');
  t.match(oldRefresh.json().error_description, /withdrawn from the catalogue after this authorization/);
  const lateExchange = await exchange(asApp, a, pendingCode);
  t.equal(lateExchange.json().error, 'invalid_grant', 'a code of an authorization before the withdrawal gives no tokens either');
  t.same(await introspect(asApp, b, before.access_token), { active: false }, 'introspection agrees');

  const after = await signIn(asApp, b);
  t.equal((await read(a, after.access_token)).statusCode, 200, 'a new authorization works');
  t.equal((await refresh(asApp, a, after.refresh_token)).statusCode, 200, 'and refreshes');
  t.match(await introspect(asApp, a, after.access_token), { active: true, client_id: 'mesures', patient: 'ines' });
});

t.test('a Consent withdrawn then made active again does not revive the tokens issued under it', async (t) => {
  const { a, b, systemAuth, asApp } = await buildReplicas(t);
  const first = await signIn(asApp, a);
  // Approving the app again (another device) replaces the Consent in one commit: the first device's tokens go on.
  const second = await signIn(asApp, b);
  t.equal((await read(b, first.access_token)).statusCode, 200, 'no break, so the earlier authorization still stands');
  t.equal((await read(a, second.access_token)).statusCode, 200);

  const consents = async () => ((await a.inject({ url: '/fhir/Consent?patient=Patient/ines&_count=50', headers: { authorization: systemAuth } })).json() as {
    entry: Array<{ resource: { id: string; status: string; provision?: { actor?: Array<{ reference?: { identifier?: { value?: string } } }> } } & Record<string, unknown> }>;
  }).entry.map((e) => e.resource).filter((c) => c.provision?.actor?.some((actor) => actor.reference?.identifier?.value === 'mesures'));
  const setStatus = async (app: FastifyInstance, consent: Record<string, unknown> & { id: string }, status: string) => {
    const { meta: _meta, ...rest } = consent;
    const res = await app.inject({ method: 'PUT', url: `/fhir/Consent/${consent.id}`, headers: { authorization: systemAuth, 'content-type': FHIR_JSON }, payload: { ...rest, status } });
    t.equal(res.statusCode, 200, `Consent/${consent.id} ${status}`);
  };
  const active = (await consents()).filter((c) => c.status === 'active');
  t.equal(active.length, 1, 'one active Consent for the app');
  await setStatus(a, active[0]!, 'inactive');
  const refused = await read(b, first.access_token);
  t.equal(refused.statusCode, 403, 'withdrawn: refused');
  t.match(refused.json().issue[0].diagnostics, /app-without-consent/);

  // She makes the same Consent active again.
  const [withdrawn] = (await consents()).filter((c) => c.id === active[0]!.id);
  await setStatus(b, withdrawn!, 'active');
  for (const [name, tokens] of [['first', first], ['second', second]] as const) {
    const res = await read(a, tokens.access_token);
    t.equal(res.statusCode, 403, `${name} device: the old access token stays refused`);
    t.match(res.json().issue[0].diagnostics, /app-without-consent/);
    t.equal((await read(b, tokens.access_token, '/fhir/Observation?patient=ines')).statusCode, 403, `${name} device: its searches too`);
    t.same(await introspect(asApp, a, tokens.access_token), { active: false }, `${name} device: introspection says inactive`);
  }
  t.same(await introspect(asApp, b, second.refresh_token), { active: false }, 'the refresh token is inactive');
  const again = await refresh(asApp, a, second.refresh_token);
  t.equal(again.statusCode, 400);
  t.equal(again.json().error, 'invalid_grant', 'and refused');

  const renewed = await signIn(asApp, b);
  t.equal((await read(a, renewed.access_token)).statusCode, 200, 'a new authorization works');
  t.equal((await refresh(asApp, a, renewed.refresh_token)).statusCode, 200, 'and refreshes');
});
