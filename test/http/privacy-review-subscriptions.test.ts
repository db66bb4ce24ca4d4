import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { APPS, buildCatalogueServer, buildSpace, FHIR_JSON, observation, seed, signIn, VITAL_SIGNS } from '../helpers/people.js';
import { authorize, exchangeCode } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait-for.js';

type Tap = { teardown: (fn: () => unknown) => void };

/** A rest-hook endpoint recording every POST it gets (path and body). */
async function receiver(t: Tap): Promise<{ url: string; hits: Array<{ path: string; body: string }> }> {
  const hits: Array<{ path: string; body: string }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

async function subscribe(app: FastifyInstance, authorization: string, criteria: string, endpoint: string, payload = true): Promise<string> {
  const res = await app.inject({
    method: 'POST', url: '/fhir/Subscription', headers: { authorization, 'content-type': FHIR_JSON },
    payload: { resourceType: 'Subscription', status: 'requested', reason: 'review', criteria, channel: { type: 'rest-hook', endpoint, ...(payload ? { payload: FHIR_JSON } : {}) } },
  });
  if (res.statusCode !== 201) throw new Error(`subscribing failed: ${res.statusCode} ${res.body}`);
  return (res.json() as { id: string }).id;
}

t.test('a Subscription delivers only what a read by its owner would give: the scopes\' search restrictions too', async (t) => {
  const space = await buildSpace(t, { config: { subscriptionAllowPrivateEndpoints: true } }); // a local receiver
  const { app } = space;
  const hook = await receiver(t);
  const vitals = `Bearer ${(await signIn(app, { clientId: APPS.vitals, username: space.users.alice, scope: `launch/patient patient/Observation.rs?category=${VITAL_SIGNS}` })).access_token}`;
  await subscribe(app, vitals, `Observation?patient=${space.alice}`, `${hook.url}/vitals`);
  // A system client's Subscription on the same criteria tells when both writes have been judged.
  const system = await space.systemAuth();
  await subscribe(app, system, `Observation?patient=${space.alice}`, `${hook.url}/barrier`);

  const lab = await seed(space, observation(space.alice, 'laboratory'));
  const vital = await seed(space, observation(space.alice, 'vital-signs'));
  const read = await app.inject({ url: `/fhir/Observation/${lab}`, headers: { authorization: vitals } });
  t.equal(read.statusCode, 403, 'the app may not read the laboratory result');
  t.match(read.body, /scope-query/);

  await waitFor(() => hook.hits.find((h) => h.path === '/vitals' && h.body.includes(`"id":"${vital}"`)));
  await waitFor(() => (hook.hits.filter((h) => h.path === '/barrier').length >= 2 ? true : undefined));
  await app.subscriptions.close(); // every delivery under way has ended
  const toApp = hook.hits.filter((h) => h.path === '/vitals');
  t.equal(toApp.length, 1, 'one notification: the vital sign');
  t.notOk(toApp.some((h) => h.body.includes(lab)), 'the laboratory Observation is not delivered');
});

t.test('a withdrawn app\'s Subscriptions deliver nothing, neither payload nor id-only notice', async (t) => {
  const { app, adminAuth, systemAuth: system } = await buildCatalogueServer(t, 'carnet-privacy-sub-', { config: { subscriptionAllowPrivateEndpoints: true } });
  const registered = await app.inject({
    method: 'POST', url: '/admin/apps', headers: { authorization: adminAuth, 'content-type': 'application/json' },
    payload: { clientId: 'mesures', name: 'Mes mesures', redirectUris: ['https://mesures.test/cb'], public: true, scope: 'launch/patient patient/Observation.rs' },
  });
  t.equal(registered.statusCode, 201);
  t.equal((await app.inject({ method: 'POST', url: '/admin/apps/mesures/reference', headers: { authorization: adminAuth } })).statusCode, 200);
  const { location, verifier } = await authorize(app, { clientId: 'mesures', redirectUri: 'https://mesures.test/cb', username: 'ines', password: 'correct horse battery staple', scope: 'launch/patient patient/Observation.rs' });
  const appAuth = `Bearer ${(await exchangeCode(app, location.searchParams.get('code')!, verifier, 'mesures', 'https://mesures.test/cb')).json().access_token as string}`;

  const hook = await receiver(t);
  await subscribe(app, appAuth, 'Observation?patient=Patient/ines', `${hook.url}/payload`);
  await subscribe(app, appAuth, 'Observation?patient=Patient/ines', `${hook.url}/id-only`, false);
  await subscribe(app, system, 'Observation?patient=Patient/ines', `${hook.url}/barrier`);
  const create = async () => {
    const res = await app.inject({ method: 'POST', url: '/fhir/Observation', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject: { reference: 'Patient/ines' } } });
    return (res.json() as { id: string }).id;
  };
  const before = await create();
  await waitFor(() => (hook.hits.filter((h) => h.path !== '/barrier').length >= 2 ? true : undefined));
  t.ok(hook.hits.some((h) => h.path === '/payload' && h.body.includes(before)), 'while referenced, the app is notified');

  t.equal((await app.inject({ method: 'POST', url: '/admin/apps/mesures/withdraw', headers: { authorization: adminAuth } })).statusCode, 200);
  t.equal((await app.inject({ url: `/fhir/Observation/${before}`, headers: { authorization: appAuth } })).statusCode, 401, 'its token no longer works');
  const hitsBefore = hook.hits.filter((h) => h.path !== '/barrier').length;
  const after = await create();
  await waitFor(() => (hook.hits.filter((h) => h.path === '/barrier').length >= 2 ? true : undefined));
  // Referenced again, the app needs new authorizations: what it subscribed to before stays silent.
  t.equal((await app.inject({ method: 'POST', url: '/admin/apps/mesures/reference', headers: { authorization: adminAuth } })).statusCode, 200);
  const again = await create();
  await waitFor(() => (hook.hits.filter((h) => h.path === '/barrier').length >= 3 ? true : undefined));
  await app.subscriptions.close(); // every delivery under way has ended
  t.equal(hook.hits.filter((h) => h.path !== '/barrier').length, hitsBefore, 'no notification of any kind after the withdrawal, nor once referenced again');
  t.notOk(hook.hits.some((h) => h.path !== '/barrier' && (h.body.includes(after) || h.body.includes(again))), 'the new Observations are not delivered');
});
