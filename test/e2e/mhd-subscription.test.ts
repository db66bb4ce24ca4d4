import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'undici';
import { buildTestServer } from '../helpers/server.js';
import { provideBundle } from '../fixtures/mhd/provide-bundle.js';
import { waitFor } from '../helpers/wait-for.js';

const FHIR = 'application/fhir+json';

t.test('a new document reaches rest-hook and websocket subscribers, and the holder is notified', async (t) => {
  const { app, auth } = await buildTestServer(t, { config: { subscriptionRetryMs: 20, subscriptionMaxAttempts: 2, subscriptionAllowPrivateEndpoints: true } });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const authorization = await auth();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type Json = any;
  const api = (path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; json(): Promise<Json> }> => fetch(`${address}/fhir${path}`, {
    method: init.method ?? 'GET', headers: { authorization, 'content-type': FHIR, accept: FHIR }, body: init.body ? JSON.stringify(init.body) : undefined,
  });
  await api('/Patient/ps1', { method: 'PUT', body: { resourceType: 'Patient', id: 'ps1' } });
  await api('/Practitioner/dr-martin', { method: 'PUT', body: { resourceType: 'Practitioner', id: 'dr-martin', name: [{ family: 'Martin' }] } });

  const received: Array<{ headers: Record<string, unknown>; body: string; url: string }> = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), url: req.url ?? '' });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => receiver.close(resolve)));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  const restHook: { id: string; status: string } = await (await api('/Subscription', { method: 'POST', body: {
    resourceType: 'Subscription', status: 'requested', reason: 'new documents', criteria: 'DocumentReference?patient=ps1',
    channel: { type: 'rest-hook', endpoint: hookUrl, payload: FHIR, header: ['X-Api-Key: secret-1'] },
  } })).json();
  t.equal(restHook.status, 'active', 'the server activates what it accepts');
  const wsSub: { id: string } = await (await api('/Subscription', { method: 'POST', body: {
    resourceType: 'Subscription', status: 'requested', reason: 'ping me', criteria: 'DocumentReference?patient=ps1', channel: { type: 'websocket' },
  } })).json();

  const socket = new WebSocket(`${address.replace('http', 'ws')}/fhir/subscriptions/ws`, { headers: { authorization } } as never);
  t.teardown(() => socket.close());
  const messages: string[] = [];
  socket.addEventListener('message', (event) => messages.push(String(event.data)));
  await new Promise((resolve, reject) => { socket.addEventListener('open', resolve); socket.addEventListener('error', reject); });
  socket.send(`bind ${wsSub.id}`);
  await waitFor(() => (messages.includes(`bound ${wsSub.id}`) ? true : undefined));

  const res = await api('', { method: 'POST', body: provideBundle('Patient/ps1') });
  t.equal(res.status, 200);
  const docId = (await res.json()).entry[1].response.location.split('/')[1];

  const hit = await waitFor(() => received.find((r) => r.body.includes(docId)), 1000);
  t.equal(hit.headers['x-api-key'], 'secret-1', 'channel headers are sent');
  t.equal(JSON.parse(hit.body).id, docId, 'the payload is the new DocumentReference');
  await waitFor(() => (messages.includes(`ping ${wsSub.id}`) ? true : undefined), 1000);

  const notices = await (await api(`/Communication?subject=Patient/ps1`)).json();
  t.ok(notices.entry?.some((e: { resource: { about?: Array<{ reference: string }> } }) => e.resource.about?.[0]?.reference === `DocumentReference/${docId}`), 'a document-added Communication was written');

  const log = await waitFor(async () => {
    const body = await (await api(`/Subscription/${restHook.id}/$deliveries`)).json();
    return body.parameter?.length ? body : undefined;
  });
  t.match(JSON.stringify(log), /"valueCode":"delivered"/);

  received.length = 0;
  await api('/Observation', { method: 'POST', body: { resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject: { reference: 'Patient/ps1' } } });
  await api('/DocumentReference', { method: 'POST', body: { resourceType: 'DocumentReference', status: 'current', subject: { reference: 'Patient/other' }, content: [{ attachment: { contentType: 'text/plain' } }] } });
  const marker = await api('', { method: 'POST', body: provideBundle('Patient/ps1') });
  const markerId = (await marker.json()).entry[1].response.location.split('/')[1];
  await waitFor(() => received.find((r) => r.body.includes(markerId)), 1000);
  t.equal(received.length, 1, 'writes that do not match the criteria are not delivered');
});

t.test('failing deliveries are retried, logged, and turn the Subscription to error', async (t) => {
  const { app, auth } = await buildTestServer(t, { config: { subscriptionRetryMs: 10, subscriptionMaxAttempts: 3, subscriptionAllowPrivateEndpoints: true } });
  const authorization = await auth();
  const headers = { authorization, 'content-type': FHIR };
  const dead = createServer((_req, res) => res.writeHead(503).end());
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => dead.close(resolve)));
  const sub = (await app.inject({ method: 'POST', url: '/fhir/Subscription', headers, payload: {
    resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: 'Observation?code=poids',
    channel: { type: 'rest-hook', endpoint: `http://127.0.0.1:${(dead.address() as AddressInfo).port}/` },
  } })).json();
  await app.inject({ method: 'POST', url: '/fhir/Observation', headers, payload: { resourceType: 'Observation', status: 'final', code: { coding: [{ code: 'poids' }] } } });
  const errored = await waitFor(async () => {
    const current = (await app.inject({ url: `/fhir/Subscription/${sub.id}`, headers })).json();
    return current.status === 'error' ? current : undefined;
  });
  t.match(errored.error, /3 failed attempts/);
  const log = (await app.inject({ url: `/fhir/Subscription/${sub.id}/$deliveries`, headers })).json();
  const outcomes = log.parameter.map((p: { part: Array<{ name: string; valueCode?: string }> }) => p.part.find((x) => x.name === 'outcome')!.valueCode);
  t.same(outcomes, ['failed', 'failed', 'failed', 'gave-up']);

  const bad = await app.inject({ method: 'POST', url: '/fhir/Subscription', headers, payload: { resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: 'Observation?nope=1', channel: { type: 'websocket' } } });
  t.equal(bad.statusCode, 422);
  t.match(bad.body, /FHIR_ERR_SUBSCRIPTION_CRITERIA/);
});
