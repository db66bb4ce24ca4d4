import t from 'tap';
import type { FastifyInstance } from 'fastify';
import type { Bundle, OperationOutcome, Subscription } from '@medplum/fhirtypes';
import { buildSpace, FHIR_JSON, holderBearer, professionalBearer } from '../helpers/people.js';

/**
 * Every way of writing a Subscription runs the checks of POST and PUT
 * /fhir/Subscription (criteria, channel, the owner): PATCH, conditional create
 * (If-None-Exist) and conditional update answer as those do; a Bundle may not
 * write one (422 FHIR_ERR_SUBSCRIPTION_BUNDLE) rather than write it without
 * them. Before, these paths were the generic ones: a Subscription could be
 * created with no owner, or its channel patched to anything.
 */

const ENDPOINT = 'https://hooks.example/carnet';
const subscription = (reason: string, endpoint = ENDPOINT): Subscription => ({
  resourceType: 'Subscription', status: 'requested', reason, criteria: 'Observation?category=vital-signs',
  channel: { type: 'rest-hook', endpoint },
});

type Space = Awaited<ReturnType<typeof buildSpace>>;

async function people(space: Space) {
  const { app } = space;
  return {
    doctor: await professionalBearer(app, space.users.doctor),
    otherPro: await professionalBearer(app, space.users.otherPro),
    alice: await holderBearer(app, space.users.alice),
    system: await space.systemAuth(),
  };
}

const create = async (app: FastifyInstance, authorization: string, body: Subscription, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/fhir/Subscription', headers: { authorization, 'content-type': FHIR_JSON, ...headers }, payload: body });
const patch = (app: FastifyInstance, authorization: string, id: string, operations: unknown[]) =>
  app.inject({ method: 'PATCH', url: `/fhir/Subscription/${id}`, headers: { authorization, 'content-type': 'application/json-patch+json' }, payload: operations });
const deliveries = (app: FastifyInstance, authorization: string, id: string) =>
  app.inject({ url: `/fhir/Subscription/${id}/$deliveries`, headers: { authorization } });
const stored = async (app: FastifyInstance, system: string, id: string) =>
  (await app.inject({ url: `/fhir/Subscription/${id}`, headers: { authorization: system } })).json() as Subscription;
const allSubscriptions = async (app: FastifyInstance, system: string) =>
  ((await app.inject({ url: '/fhir/Subscription?_count=100', headers: { authorization: system } })).json() as Bundle<Subscription>).entry?.map((e) => e.resource!) ?? [];
const codeOf = (body: unknown) => (body as OperationOutcome).issue?.[0]?.details?.coding?.[0]?.code;

t.test('PATCH runs the checks of PUT: criteria, channel, and only the owner', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const { doctor, otherPro, alice, system } = await people(space);
  const created = await create(app, doctor, subscription('doctor'));
  t.equal(created.statusCode, 201, created.body.slice(0, 300));
  const id = (created.json() as Subscription).id!;

  for (const [what, operations, code] of [
    ['a channel pointing at the cloud metadata service', [{ op: 'replace', path: '/channel/endpoint', value: 'http://169.254.169.254/latest/meta-data/' }], 'FHIR_ERR_SUBSCRIPTION_CHANNEL'],
    ['a channel pointing at the server itself', [{ op: 'replace', path: '/channel/endpoint', value: 'https://localhost:8080/admin/apps' }], 'FHIR_ERR_SUBSCRIPTION_CHANNEL'],
    ['an email channel', [{ op: 'replace', path: '/channel', value: { type: 'email', endpoint: 'mailto:x@example.invalid' } }], 'FHIR_ERR_SUBSCRIPTION_CHANNEL'],
    ['a Host header', [{ op: 'add', path: '/channel/header', value: ['Host: intranet.hospital'] }], 'FHIR_ERR_SUBSCRIPTION_CHANNEL'],
    ['a chained criteria', [{ op: 'replace', path: '/criteria', value: 'Observation?subject.name=x' }], 'FHIR_ERR_SUBSCRIPTION_CRITERIA'],
    ['criteria on the access history', [{ op: 'replace', path: '/criteria', value: 'AuditEvent?patient=x' }], 'FHIR_ERR_SUBSCRIPTION_CRITERIA'],
  ] as const) {
    const res = await patch(app, doctor, id, [...operations]);
    t.equal(res.statusCode, 422, `${what}: 422 (${res.body.slice(0, 200)})`);
    t.equal(codeOf(res.json()), code, `${what}: ${code}`);
  }
  t.equal((await stored(app, system, id)).channel.endpoint, ENDPOINT, 'the stored channel is unchanged');

  const bySystem = await patch(app, system, id, [{ op: 'replace', path: '/reason', value: 'system' }]);
  t.equal(bySystem.statusCode, 403, 'a system client may not patch another party\'s Subscription (as it may not PUT it)');
  t.match(bySystem.json(), { issue: [{ diagnostics: /Only the owner of a Subscription/ }] });
  const byStranger = await patch(app, otherPro, id, [{ op: 'test', path: '/channel/endpoint', value: ENDPOINT }]);
  t.equal(byStranger.statusCode, 403, 'another professional is refused before the patch\'s test could tell anything');
  t.equal((await stored(app, system, id)).reason, 'doctor');

  const changed = await patch(app, doctor, id, [{ op: 'replace', path: '/reason', value: 'patched' }, { op: 'replace', path: '/status', value: 'requested' }]);
  t.equal(changed.statusCode, 200, changed.body.slice(0, 300));
  t.match(changed.json(), { reason: 'patched', status: 'active' }, 'accepted as a PUT is: the server activates it');
  t.equal((await deliveries(app, doctor, id)).statusCode, 200, 'the owner is kept');
  t.equal((await deliveries(app, system, id)).statusCode, 403, 'and no one else became it');

  // A patient's app patches its own, and the criteria it may search only.
  const own = await create(app, alice, subscription('alice'));
  t.equal(own.statusCode, 201);
  const ownId = (own.json() as Subscription).id!;
  t.equal((await patch(app, alice, ownId, [{ op: 'replace', path: '/reason', value: 'alice, patched' }])).statusCode, 200);
  t.equal((await patch(app, alice, id, [{ op: 'replace', path: '/reason', value: 'taken' }])).statusCode, 403, 'not the doctor\'s');
});

t.test('a conditional update writes a Subscription as PUT does: checked, and owned by whoever wrote it', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const { doctor, otherPro, system } = await people(space);
  const conditional = (authorization: string, query: string, body: Subscription) =>
    app.inject({ method: 'PUT', url: `/fhir/Subscription?${query}`, headers: { authorization, 'content-type': FHIR_JSON }, payload: body });

  const refused = await conditional(doctor, 'url=https://hooks.example/none', subscription('ssrf', 'http://localhost:8080/admin/apps'));
  t.equal(refused.statusCode, 422, `no match, and a channel to the server itself: 422 (${refused.body.slice(0, 200)})`);
  t.equal(codeOf(refused.json()), 'FHIR_ERR_SUBSCRIPTION_CHANNEL');
  const garbage = await conditional(doctor, 'url=https://hooks.example/none', { ...subscription('x'), criteria: 'Unicorn?x=1' });
  t.equal(garbage.statusCode, 422, 'criteria of an unknown type: 422');
  t.same(await allSubscriptions(app, system), [], 'nothing was stored');

  // What a conditional update creates must satisfy its condition: the endpoint it names.
  const made = await conditional(doctor, `url=${ENDPOINT}`, subscription('conditional'));
  t.equal(made.statusCode, 201, made.body.slice(0, 300));
  const id = (made.json() as Subscription).id!;
  t.equal((await deliveries(app, doctor, id)).statusCode, 200, 'its writer owns it');
  t.equal((await deliveries(app, otherPro, id)).statusCode, 403, 'no one else does');

  const again = await conditional(doctor, `_id=${id}`, { ...subscription('conditional, again'), status: 'requested' });
  t.equal(again.statusCode, 200, `the owner's conditional update of it: ${again.body.slice(0, 200)}`);
  t.match(again.json(), { id, reason: 'conditional, again', status: 'active' });
  const toPrivate = await conditional(doctor, `_id=${id}`, subscription('private', 'https://192.168.1.20/hook'));
  t.equal(toPrivate.statusCode, 422, 'a match changed to a private address: 422');
  const bySystem = await conditional(system, `_id=${id}`, subscription('system'));
  t.equal(bySystem.statusCode, 403, 'a system client matching another party\'s Subscription may not change it');
  t.equal((await stored(app, system, id)).reason, 'conditional, again');
  // Another professional does not see the doctor's: for them nothing matches, and they create their own.
  const theirs = await conditional(otherPro, `url=${ENDPOINT}`, subscription('other'));
  t.equal(theirs.statusCode, 201);
  t.not((theirs.json() as Subscription).id, id);
});

t.test('If-None-Exist: a match answers 200, no match creates a checked Subscription with its owner', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const { doctor, otherPro, system } = await people(space);
  const ifNoneExist = { 'if-none-exist': `url=${ENDPOINT}` };
  const first = await create(app, doctor, subscription('first'), ifNoneExist);
  t.equal(first.statusCode, 201);
  const id = (first.json() as Subscription).id!;
  t.equal((await deliveries(app, doctor, id)).statusCode, 200, 'owned by its creator');
  const second = await create(app, doctor, subscription('second'), ifNoneExist);
  t.equal(second.statusCode, 200, 'the same condition again finds it: no second Subscription');
  t.equal((second.json() as Subscription).id, id);
  const other = await create(app, otherPro, subscription('other'), ifNoneExist);
  t.equal(other.statusCode, 201, 'another professional, who does not see the doctor\'s, creates their own');
  const refused = await create(app, doctor, subscription('ssrf', 'http://127.0.0.1:18399/internal-admin'), { 'if-none-exist': 'url=http://127.0.0.1:18399/internal-admin' });
  t.equal(refused.statusCode, 422, 'checked as any create');
  t.equal((await allSubscriptions(app, system)).length, 2, 'two Subscriptions in all');
});

t.test('a Bundle may not create or change a Subscription (422), and may still delete one', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const { doctor, system } = await people(space);
  const post = (authorization: string, bundle: Bundle) =>
    app.inject({ method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR_JSON }, payload: bundle });

  const transaction = await post(doctor, {
    resourceType: 'Bundle', type: 'transaction',
    entry: [{ fullUrl: 'urn:uuid:5b0c1c9e-4c61-4b8e-9d57-1d3f4b1e0a01', resource: subscription('in a transaction', 'http://127.0.0.1:18399/internal-admin'), request: { method: 'POST', url: 'Subscription' } }],
  });
  t.equal(transaction.statusCode, 422, transaction.body.slice(0, 300));
  t.equal(codeOf(transaction.json()), 'FHIR_ERR_SUBSCRIPTION_BUNDLE');
  t.match(transaction.json(), { issue: [{ code: 'not-supported', expression: ['Bundle.entry[0].request'] }] });
  const valid = await post(system, {
    resourceType: 'Bundle', type: 'transaction',
    entry: [{ resource: subscription('valid, in a transaction'), request: { method: 'PUT', url: 'Subscription/in-bundle' } }],
  });
  t.equal(valid.statusCode, 422, 'even a valid one, even for a system client: its owner would not be recorded');
  t.same(await allSubscriptions(app, system), [], 'nothing was stored');

  const created = await create(app, doctor, subscription('doctor'));
  const id = (created.json() as Subscription).id!;
  const binaryPatch = { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify([{ op: 'replace', path: '/channel/endpoint', value: 'http://169.254.169.254/latest/meta-data/' }])).toString('base64') };
  const batch = await post(doctor, {
    resourceType: 'Bundle', type: 'batch',
    entry: [
      { resource: binaryPatch as never, request: { method: 'PATCH', url: `Subscription/${id}` } },
      { resource: { ...subscription('put in a batch'), id }, request: { method: 'PUT', url: `Subscription/${id}` } },
      { resource: subscription('conditional in a batch'), request: { method: 'PUT', url: 'Subscription?url=https://hooks.example/x' } },
      { resource: subscription('if-none-exist in a batch'), request: { method: 'POST', url: 'Subscription', ifNoneExist: 'url=https://hooks.example/y' } },
      { request: { method: 'GET', url: `Subscription/${id}` } },
    ],
  });
  t.equal(batch.statusCode, 200);
  const statuses = (batch.json() as Bundle).entry!.map((e) => e.response?.status);
  t.same(statuses, ['422', '422', '422', '422', '200'], 'each writing entry is refused; the read is answered');
  t.equal((batch.json() as Bundle).entry![0]!.response!.outcome!.issue![0]!.details!.coding![0]!.code, 'FHIR_ERR_SUBSCRIPTION_BUNDLE');
  const after = await stored(app, system, id);
  t.match(after, { reason: 'doctor', channel: { endpoint: ENDPOINT } }, 'the Subscription is unchanged');
  t.equal((await allSubscriptions(app, system)).length, 1);

  const deleted = await post(doctor, { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'DELETE', url: `Subscription/${id}` } }] });
  t.equal((deleted.json() as Bundle).entry![0]!.response!.status, '204 No Content', 'its owner deletes it in a Bundle');
  t.same(await allSubscriptions(app, system), []);
});

// Review finding: a Subscription stored without an owner (written through a Bundle before owners
// were recorded on every path) could be taken over by the first patient app or professional to PUT
// or PATCH it, and its endpoint pointed elsewhere.
t.test('a Subscription stored without an owner is changed by system clients only', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const { doctor, alice, system } = await people(space);
  const { record } = await app.repository.create(subscription('stored before owners') as Subscription);
  const id = record.id;
  for (const [who, authorization] of [['a patient\'s app', alice], ['a professional', doctor]] as const) {
    const patched = await patch(app, authorization, id, [{ op: 'replace', path: '/channel/endpoint', value: 'https://attacker.example/hook' }]);
    t.equal(patched.statusCode, 403, `${who}: PATCH`);
    const put = await app.inject({ method: 'PUT', url: `/fhir/Subscription/${id}`, headers: { authorization, 'content-type': FHIR_JSON }, payload: { ...subscription('mine now', 'https://attacker.example/hook'), id } });
    t.equal(put.statusCode, 403, `${who}: PUT`);
  }
  t.equal((await stored(app, system, id)).channel?.endpoint, ENDPOINT, 'the endpoint is unchanged');
  const bySystem = await app.inject({ method: 'PUT', url: `/fhir/Subscription/${id}`, headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { ...subscription('the operator'), id } });
  t.equal(bySystem.statusCode, 200, 'a system client still may');
});
