import t from 'tap';
import { lookup } from 'node:dns/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Bundle, OperationOutcome, Parameters, Subscription } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/server.js';
import { buildTestServer } from '../helpers/server.js';
import { bearer } from '../helpers/tokens.js';
import { buildSpace, FHIR_JSON, holderBearer, professionalBearer } from '../helpers/people.js';
import { waitFor } from '../helpers/wait-for.js';
import { deliveryError } from '../../src/space/subscriptions/endpoint.js';

/**
 * SSRF: any patient's app may create a rest-hook Subscription, and the server
 * then POSTs to its endpoint from inside its own network. Unless the
 * deployment sets SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS, an endpoint must be
 * https on a public address: loopback, private, link-local, unspecified,
 * multicast and reserved addresses and localhost are refused (422
 * FHIR_ERR_SUBSCRIPTION_CHANNEL), and at each delivery the address a name
 * resolves to is checked as the connection is made.
 */

type Tap = { teardown: (fn: () => unknown) => void };

const rest = (endpoint: string, header?: string[]): Subscription => ({
  resourceType: 'Subscription', status: 'requested', reason: 'review', criteria: 'Observation?category=vital-signs',
  channel: { type: 'rest-hook', endpoint, payload: FHIR_JSON, ...(header ? { header } : {}) },
});
const codeOf = (body: unknown) => (body as OperationOutcome).issue?.[0]?.details?.coding?.[0]?.code;
const vitalSign = (subject: string) => ({
  resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject: { reference: subject },
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
});

/** A TCP listener that only counts connections: nothing may even connect to it. */
async function tcpWitness(t: Tap, host: string): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

async function deliveryLog(app: FastifyInstance, authorization: string, id: string): Promise<Array<Record<string, unknown>>> {
  const res = await app.inject({ url: `/fhir/Subscription/${id}/$deliveries`, headers: { authorization } });
  return ((res.json() as Parameters).parameter ?? []).map((p) => Object.fromEntries((p.part ?? []).map((part) => [part.name, part.valueString ?? part.valueCode ?? part.valueInteger ?? part.valueInstant])));
}

t.test('endpoints on the server\'s own network, or not https, are refused when the Subscription is written', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const alice = await holderBearer(app, space.users.alice, 'launch/patient patient/Observation.rs');
  const doctor = await professionalBearer(app, space.users.doctor);
  const system = await space.systemAuth();
  const refused = [
    'http://127.0.0.1:18399/internal-admin', 'http://169.254.169.254/latest/meta-data/', 'http://localhost:18300/admin/apps',
    'https://127.0.0.1/', 'https://127.1.2.3:8443/', 'https://[::1]/', 'https://[::ffff:127.0.0.1]/', 'https://2130706433/', 'https://0x7f.1/',
    'https://10.0.0.8/', 'https://172.16.4.4/', 'https://192.168.1.10/', 'https://100.64.0.1/', 'https://[fd00::1]/', 'https://[fe80::1]/',
    'https://0.0.0.0/', 'https://[::]/', 'https://224.0.0.251/', 'https://255.255.255.255/', 'https://[ff02::1]/',
    'https://localhost/', 'https://LOCALHOST./', 'https://api.localhost/', 'https://169.254.169.254/latest/meta-data/',
    'http://hooks.example/carnet', 'file:///etc/passwd', 'ftp://hooks.example/x',
    // IPv6 outside global unicast, or tunnelling to an address it embeds.
    'https://[64:ff9b:1::a9fe:a9fe]/', 'https://[::ffff:0:7f00:1]/', 'https://[100::1]/', 'https://[2002:7f00:1::1]/', 'https://[2001::7f00:1]/',
    'https://[2001:db8::1]/', 'https://[64:ff9b::a9fe:a9fe]/',
  ];
  for (const [who, authorization] of [['a patient\'s app', alice], ['a professional', doctor]] as const) {
    for (const endpoint of refused) {
      const res = await app.inject({ method: 'POST', url: '/fhir/Subscription', headers: { authorization, 'content-type': FHIR_JSON }, payload: rest(endpoint, ['X-Test: injected', 'Authorization: Bearer forged']) });
      t.equal(res.statusCode, 422, `${who}, ${endpoint}: 422 (${res.body.slice(0, 160)})`);
      t.equal(codeOf(res.json()), 'FHIR_ERR_SUBSCRIPTION_CHANNEL');
      t.same((res.json() as OperationOutcome).issue?.[0]?.expression, ['Subscription.channel.endpoint']);
    }
  }
  const put = await app.inject({ method: 'PUT', url: '/fhir/Subscription/metadata', headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: { ...rest('http://169.254.169.254/latest/meta-data/'), id: 'metadata' } });
  t.equal(put.statusCode, 422, 'PUT too');

  // Headers are the subscriber's business (an Authorization for its own endpoint included), within HTTP's rules.
  const accepted = await app.inject({ method: 'POST', url: '/fhir/Subscription', headers: { authorization: alice, 'content-type': FHIR_JSON }, payload: rest('https://hooks.example/carnet', ['Authorization: Bearer for-the-subscriber', 'X-Api-Key: k']) });
  t.equal(accepted.statusCode, 201, `an https endpoint with a public name: ${accepted.body.slice(0, 200)}`);
  for (const endpoint of ['https://[2a01:e0a:1::1]/hook', 'https://[64:ff9b::5db8:d822]/hook', 'https://93.184.216.34/hook']) {
    const res = await app.inject({ method: 'POST', url: '/fhir/Subscription', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: rest(endpoint) });
    t.equal(res.statusCode, 201, `a public address: ${endpoint}`);
    await app.inject({ method: 'DELETE', url: `/fhir/Subscription/${(res.json() as Subscription).id}`, headers: { authorization: system } });
  }
  for (const header of ['Host: intranet.hospital', 'Content-Length: 0', 'Transfer-Encoding: chunked', 'X-Test: a\u0000b', 'X-Test: a\nX-Injected: 1', 'X-Test: café', 'Bad Name: x']) {
    const res = await app.inject({ method: 'POST', url: '/fhir/Subscription', headers: { authorization: alice, 'content-type': FHIR_JSON }, payload: rest('https://hooks.example/carnet', [header]) });
    t.equal(res.statusCode, 422, `header ${JSON.stringify(header)}: 422`);
    t.same((res.json() as OperationOutcome).issue?.[0]?.expression, ['Subscription.channel.header']);
  }
  const stored = await app.inject({ url: '/fhir/Subscription', headers: { authorization: system } });
  t.equal((stored.json() as Bundle).total, 1, 'only the accepted Subscription was stored');
});

/** The machine's own name, when it resolves to a loopback or private address (as it does wherever tests run: /etc/hosts). */
async function localName(): Promise<{ name: string; address: string } | string> {
  const name = hostname();
  const resolved = await lookup(name).catch(() => undefined);
  const isLocal = resolved && /^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|::1$|f[cd])/.test(resolved.address);
  if (!resolved || !isLocal || name.toLowerCase().endsWith('localhost')) return `${name} does not resolve to a loopback or private address here (${resolved?.address ?? 'not resolved'})`;
  return { name, address: resolved.address };
}
const local = await localName();

t.test('at delivery, a name that resolves to a non-public address is not connected to: a failed delivery is logged', { skip: typeof local === 'string' ? local : false }, async (t) => {
  const { name, address } = local as { name: string; address: string };
  const { app, auth } = await buildTestServer(t, { config: { subscriptionMaxAttempts: 2, subscriptionRetryMs: 10 } });
  const system = await auth();
  const witness = await tcpWitness(t, address);
  const endpoint = `https://${name}:${witness.port}/hook`;
  const created = await app.inject({ method: 'POST', url: '/fhir/Subscription', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: rest(endpoint) });
  t.equal(created.statusCode, 201, `a name is accepted when written (${endpoint}): ${created.body.slice(0, 200)}`);
  const id = (created.json() as Subscription).id!;
  await app.inject({ method: 'PUT', url: '/fhir/Patient/p1', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { resourceType: 'Patient', id: 'p1' } });
  await app.inject({ method: 'POST', url: '/fhir/Observation', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: vitalSign('Patient/p1') });
  const log = await waitFor(async () => {
    const entries = await deliveryLog(app, system, id);
    return entries.some((e) => e.outcome === 'gave-up') ? entries : undefined;
  });
  t.equal(witness.connections(), 0, 'nothing connected to the address the name resolves to');
  const failed = log.filter((e) => e.outcome === 'failed');
  t.equal(failed.length, 2, 'each attempt is logged as failed');
  // The same words as for a name that does not resolve: the subscriber learns nothing of the server's DNS.
  for (const entry of failed) t.equal(entry.error, deliveryError(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), false), 'saying why, in words that tell no name apart');
  t.match(failed[0]!.error, /does not resolve to a public address/);
  const status = await waitFor(async () => {
    const after = (await app.inject({ url: `/fhir/Subscription/${id}`, headers: { authorization: system } })).json() as Subscription;
    return after.status === 'active' ? undefined : after.status;
  });
  t.equal(status, 'error', 'then the Subscription turns to error');
});

t.test('SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: a local receiver is allowed; turned off later, nothing more is sent to it', async (t) => {
  const hits: string[] = [];
  const receiver = createHttpServer((req, res) => {
    hits.push(req.url ?? '');
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => receiver.close(resolve)));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  const first = await buildTestServer(t, { config: { subscriptionAllowPrivateEndpoints: true, subscriptionMaxAttempts: 1 } });
  const system = await first.auth();
  const created = await first.app.inject({ method: 'POST', url: '/fhir/Subscription', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: rest(endpoint) });
  t.equal(created.statusCode, 201, 'accepted when the setting allows it');
  const id = (created.json() as Subscription).id!;
  await first.app.inject({ method: 'PUT', url: '/fhir/Patient/p1', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { resourceType: 'Patient', id: 'p1' } });
  await first.app.inject({ method: 'POST', url: '/fhir/Observation', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: vitalSign('Patient/p1') });
  await waitFor(() => (hits.length ? true : undefined));
  t.equal(hits.length, 1, 'and delivered');
  await first.app.close();

  // The same store, served with the default setting.
  const config = loadConfig({}, { dataDir: first.dataDir, clientsFile: path.join(first.dataDir, 'clients.json'), publicUrl: 'http://carnet.test', logLevel: 'silent', writeWorkers: 0, subscriptionMaxAttempts: 1 });
  t.equal(config.subscriptionAllowPrivateEndpoints, false, 'off by default');
  const app = await buildServer({ config, logger: false });
  t.teardown(() => app.close());
  await app.ready();
  const again = await bearer(app, first.client, 'system/*.cruds');
  const refused = await app.inject({ method: 'POST', url: '/fhir/Subscription', headers: { authorization: again, 'content-type': FHIR_JSON }, payload: rest(endpoint) });
  t.equal(refused.statusCode, 422, 'a new one to the receiver is refused');
  await app.inject({ method: 'POST', url: '/fhir/Observation', headers: { authorization: again, 'content-type': FHIR_JSON }, payload: vitalSign('Patient/p1') });
  const log = await waitFor(async () => {
    const entries = await deliveryLog(app, again, id);
    return entries.some((e) => e.outcome === 'gave-up') ? entries : undefined;
  });
  t.equal(hits.length, 1, 'the Subscription written before sends nothing more');
  t.match(log.find((e) => e.outcome === 'failed'), { error: /^refused: .*public Internet/ }, 'its attempt is logged as refused');
});

t.test('SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS is read from the environment: true/1, false/0, anything else stops the start', async (t) => {
  t.equal(loadConfig({}).subscriptionAllowPrivateEndpoints, false, 'off by default');
  for (const value of ['true', 'TRUE', '1']) t.equal(loadConfig({ SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: value }).subscriptionAllowPrivateEndpoints, true, value);
  for (const value of ['false', '0', '']) t.equal(loadConfig({ SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: value }).subscriptionAllowPrivateEndpoints, false, JSON.stringify(value));
  t.throws(() => loadConfig({ SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: 'yes' }), { message: /SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS="yes" \(\/subscriptionAllowPrivateEndpoints\) must be boolean/ });
});
