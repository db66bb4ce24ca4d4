import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { buildSpace, FHIR_JSON, holderBearer, professionalBearer } from '../helpers/people.js';

/**
 * A Subscription belongs to whoever created it: its deliveries follow that
 * party's access, and only they may change it or read its delivery log.
 */
const subscription = (reason: string) => ({
  resourceType: 'Subscription', status: 'requested', reason, criteria: 'Observation?category=vital-signs',
  channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/hook' },
});

const put = (app: FastifyInstance, authorization: string, id: string, reason: string) =>
  app.inject({ method: 'PUT', url: `/fhir/Subscription/${id}`, headers: { authorization, 'content-type': FHIR_JSON }, payload: { ...subscription(reason), id } });
const deliveries = (app: FastifyInstance, authorization: string, id: string) =>
  app.inject({ url: `/fhir/Subscription/${id}/$deliveries`, headers: { authorization } });

t.test('only the owner changes a Subscription or reads its deliveries', async (t) => {
  const space = await buildSpace(t, { config: { subscriptionAllowPrivateEndpoints: true } }); // a local receiver
  const { app } = space;
  // Two holders' apps: a patient's app may subscribe to what it may search (Subscriptions belong to no space).
  const alice = await holderBearer(app, space.users.alice);
  const bob = await holderBearer(app, space.users.bob);
  const system = await space.systemAuth();
  const created = await app.inject({ method: 'POST', url: '/fhir/Subscription', headers: { authorization: alice, 'content-type': FHIR_JSON }, payload: subscription('mine') });
  t.equal(created.statusCode, 201, created.body.slice(0, 300));
  const id = (created.json() as { id: string }).id;

  const taken = await put(app, bob, id, 'theirs');
  t.equal(taken.statusCode, 403);
  t.match(taken.json(), { resourceType: 'OperationOutcome', issue: [{ diagnostics: /Only the owner of a Subscription/ }] });
  t.equal((await deliveries(app, bob, id)).statusCode, 403, 'another party may not read the delivery log');
  const mine = await put(app, alice, id, 'still mine');
  t.equal(mine.statusCode, 200, `the owner updates it: ${mine.body.slice(0, 300)}`);
  t.equal((await deliveries(app, alice, id)).statusCode, 200, 'and reads its delivery log');
  const stored = await app.inject({ url: `/fhir/Subscription/${id}`, headers: { authorization: system } });
  t.equal((stored.json() as { reason: string }).reason, 'still mine');
});

t.test('two parties creating the same Subscription id at once: one owns it, the other is refused', async (t) => {
  const space = await buildSpace(t, { config: { subscriptionAllowPrivateEndpoints: true } }); // a local receiver
  const { app } = space;
  // Two holders' apps: a patient's app may subscribe to what it may search (Subscriptions belong to no space).
  const alice = await holderBearer(app, space.users.alice);
  const bob = await holderBearer(app, space.users.bob);
  const system = await space.systemAuth();
  for (let round = 0; round < 15; round++) {
    const id = `race-${round}`;
    const [a, b] = await Promise.all([put(app, alice, id, 'alice'), put(app, bob, id, 'bob')]);
    const statuses = [a.statusCode, b.statusCode].sort();
    // Before, both passed the owner check before either wrote: both succeeded, the later one's owner stayed.
    t.same(statuses, [201, 403], `round ${round}: one creates, the other is refused (${statuses.join(', ')})`);
    const [winner, reason] = a.statusCode === 201 ? [alice, 'alice'] : [bob, 'bob'];
    const loser = winner === alice ? bob : alice;
    const stored = await app.inject({ url: `/fhir/Subscription/${id}`, headers: { authorization: system } });
    t.equal((stored.json() as { reason: string }).reason, reason, `round ${round}: the stored Subscription is the winner's: ${stored.body.slice(0, 300)}`);
    t.equal((await deliveries(app, winner, id)).statusCode, 200, `round ${round}: the winner owns it`);
    t.equal((await deliveries(app, loser, id)).statusCode, 403, `round ${round}: the other does not`);
  }
});

t.test('a refused write leaves no owner behind: the id stays free', async (t) => {
  const space = await buildSpace(t, { config: { subscriptionAllowPrivateEndpoints: true } }); // a local receiver
  const { app } = space;
  // Two holders' apps: a patient's app may subscribe to what it may search (Subscriptions belong to no space).
  const alice = await holderBearer(app, space.users.alice);
  const bob = await holderBearer(app, space.users.bob);
  const system = await space.systemAuth();
  const invalid = await app.inject({ method: 'PUT', url: '/fhir/Subscription/free-id', headers: { authorization: alice, 'content-type': FHIR_JSON },
    payload: { ...subscription('x'), id: 'free-id', end: '2026-02-30T10:00:00Z' } });
  t.equal(invalid.statusCode, 422, `a Subscription ending on 30 February is refused: ${invalid.body.slice(0, 200)}`);
  const later = await put(app, bob, 'free-id', 'bob');
  t.equal(later.statusCode, 201, 'another party may then create it');
  t.equal((await deliveries(app, bob, 'free-id')).statusCode, 200, 'and owns it');
});

t.test('a professional\'s or a patient\'s app reads, updates and cancels the Subscriptions it created, and no one else\'s', async (t) => {
  const space = await buildSpace(t, { config: { subscriptionAllowPrivateEndpoints: true } }); // a local receiver
  const { app } = space;
  const doctor = await professionalBearer(app, space.users.doctor);
  const otherPro = await professionalBearer(app, space.users.otherPro);
  const alice = await holderBearer(app, space.users.alice);
  for (const [name, owner, stranger] of [['a professional', doctor, otherPro], ['a patient\'s app', alice, otherPro]] as const) {
    const created = await app.inject({ method: 'POST', url: '/fhir/Subscription', headers: { authorization: owner, 'content-type': FHIR_JSON }, payload: subscription(name) });
    t.equal(created.statusCode, 201, `${name} subscribes`);
    const id = (created.json() as { id: string }).id;
    const read = (authorization: string) => app.inject({ url: `/fhir/Subscription/${id}`, headers: { authorization } });
    t.equal((await read(owner)).statusCode, 200, `${name} reads its Subscription`);
    t.equal((await read(stranger)).statusCode, 403, `${name}'s Subscription is refused to another professional`);
    const updated = await put(app, owner, id, `${name}, again`);
    t.equal(updated.statusCode, 200, `${name} updates it: ${updated.body.slice(0, 200)}`);
    const del = (authorization: string) => app.inject({ method: 'DELETE', url: `/fhir/Subscription/${id}`, headers: { authorization } });
    t.equal((await del(stranger)).statusCode, 403, 'another professional may not cancel it');
    t.equal((await del(owner)).statusCode, 200, `${name} cancels it`);
    t.equal((await read(owner)).statusCode, 410, 'then it is gone');
  }
});
