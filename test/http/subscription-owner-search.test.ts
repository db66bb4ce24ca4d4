import t from 'tap';
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../../src/auth/principal.js';
import { partyKey } from '../../src/auth/principal.js';
import { buildSpace, FHIR_JSON, holderBearer, professionalBearer } from '../helpers/people.js';

/**
 * A Subscription's owner finds it as it reads it: a search on Subscription
 * answers exactly the caller's own (totals and pages too, the restriction
 * being in the query), and its history and versions are theirs to read.
 * Another party's Subscription stays out of every search and history, and
 * answers what it answered before (read and vread 403, an empty instance
 * history).
 */
interface Entry { fullUrl?: string; resource?: { id?: string; meta?: { versionId?: string } }; request?: { method?: string } }
interface Bundle { total?: number; entry?: Entry[]; link?: Array<{ relation: string; url: string }> }

const subscription = (reason: string) => ({
  resourceType: 'Subscription', status: 'requested', reason, criteria: 'Observation?category=vital-signs',
  channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/hook' },
});

async function subscribe(app: FastifyInstance, authorization: string, reason: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/fhir/Subscription', headers: { authorization, 'content-type': FHIR_JSON }, payload: subscription(reason) });
  if (res.statusCode !== 201) throw new Error(`subscribing failed: ${res.statusCode} ${res.body}`);
  return (res.json() as { id: string }).id;
}

const get = (app: FastifyInstance, authorization: string, url: string, requestId?: string) =>
  app.inject({ url, headers: { authorization, ...(requestId ? { 'x-request-id': requestId } : {}) } });

/** The ids of a Bundle's resources, sorted. */
const idsOf = (bundle: Bundle) => (bundle.entry ?? []).flatMap((e) => (e.resource?.id ? [e.resource.id] : [])).sort();
/** The Subscription ids a history Bundle names (deletions have no resource, only their fullUrl). */
const subscriptionsIn = (bundle: Bundle) => [...new Set((bundle.entry ?? []).flatMap((e) => /\/Subscription\/([^/]+)/.exec(e.fullUrl ?? '')?.[1] ?? []))].sort();

/** Every page of a search, following its next links: the ids found and the pages' sizes. */
async function allPages(app: FastifyInstance, authorization: string, url: string): Promise<{ ids: string[]; sizes: number[]; total?: number }> {
  const ids: string[] = [];
  const sizes: number[] = [];
  let next: string | undefined = url;
  let total: number | undefined;
  while (next) {
    const res = await get(app, authorization, next);
    if (res.statusCode !== 200) throw new Error(`${next}: ${res.statusCode} ${res.body}`);
    const bundle = res.json() as Bundle;
    total ??= bundle.total;
    ids.push(...idsOf(bundle));
    sizes.push(bundle.entry?.length ?? 0);
    next = bundle.link?.find((l) => l.relation === 'next')?.url.replace('http://carnet.test', '');
  }
  return { ids: ids.sort(), sizes, total };
}

t.test('a search on Subscription answers exactly the caller\'s own, with totals and pages to match', async (t) => {
  const space = await buildSpace(t, { config: { subscriptionAllowPrivateEndpoints: true } }); // a local receiver
  const { app } = space;
  const doctor = await professionalBearer(app, space.users.doctor);
  const otherPro = await professionalBearer(app, space.users.otherPro);
  const alice = await holderBearer(app, space.users.alice);
  const bob = await holderBearer(app, space.users.bob);
  const system = await space.systemAuth();

  const doctors = [await subscribe(app, doctor, 'd1'), await subscribe(app, doctor, 'd2'), await subscribe(app, doctor, 'd3')];
  const cancelled = await subscribe(app, doctor, 'd4');
  t.equal((await app.inject({ method: 'DELETE', url: `/fhir/Subscription/${cancelled}`, headers: { authorization: doctor } })).statusCode, 200);
  const others = [await subscribe(app, otherPro, 'o1')];
  const alices = [await subscribe(app, alice, 'a1'), await subscribe(app, alice, 'a2')];
  const bobs = [await subscribe(app, bob, 'b1')];
  const systems = [await subscribe(app, system, 's1')];

  for (const [name, authorization, own] of [['the doctor', doctor, doctors], ['another professional', otherPro, others], ['Alice\'s app', alice, alices], ['Bob\'s app', bob, bobs]] as const) {
    const mine = [...own].sort();
    const found = await get(app, authorization, '/fhir/Subscription');
    t.equal(found.statusCode, 200, `${name} searches Subscriptions`);
    t.same(idsOf(found.json() as Bundle), mine, `${name} finds its own Subscriptions, and only them`);
    t.equal((found.json() as Bundle).total, mine.length, `${name}: the total counts them`);

    const paged = await allPages(app, authorization, '/fhir/Subscription?_count=1&_total=accurate');
    t.same(paged.ids, mine, `${name}: page by page, the same Subscriptions`);
    t.same(paged.sizes, mine.map(() => 1), `${name}: one per page, no page left empty by a filter after the query`);
    t.equal(paged.total, mine.length, `${name}: _total=accurate counts only them`);

    const count = await get(app, authorization, '/fhir/Subscription?_summary=count');
    t.equal((count.json() as Bundle).total, mine.length, `${name}: _summary=count counts only them`);
    const posted = await app.inject({ method: 'POST', url: '/fhir/Subscription/_search', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'status=active' });
    t.same(idsOf(posted.json() as Bundle), mine, `${name}: POST _search with criteria, the same`);
    const systemLevel = await get(app, authorization, '/fhir?_type=Subscription');
    t.same(idsOf(systemLevel.json() as Bundle), mine, `${name}: a system-level search on _type=Subscription, the same`);
    const byId = await get(app, authorization, `/fhir/Subscription?_id=${[...doctors, ...others, ...alices, ...bobs, ...systems].join(',')}`);
    t.same(idsOf(byId.json() as Bundle), mine, `${name}: naming every id finds no one else's`);
  }

  const all = await get(app, system, '/fhir/Subscription');
  t.same(idsOf(all.json() as Bundle), [...doctors, ...others, ...alices, ...bobs, ...systems].sort(), 'a system client with scopes finds them all');
  t.equal((all.json() as Bundle).total, 8);
  t.notOk(idsOf((await get(app, doctor, '/fhir/Subscription')).json() as Bundle).includes(cancelled), 'a cancelled Subscription is not found');
});

t.test('the owner reads the history and the versions of its Subscription; another party still cannot', async (t) => {
  const space = await buildSpace(t, { config: { subscriptionAllowPrivateEndpoints: true } }); // a local receiver
  const { app } = space;
  const doctor = await professionalBearer(app, space.users.doctor);
  const otherPro = await professionalBearer(app, space.users.otherPro);
  const alice = await holderBearer(app, space.users.alice);
  const system = await space.systemAuth();

  const id = await subscribe(app, doctor, 'first');
  const updated = await app.inject({ method: 'PUT', url: `/fhir/Subscription/${id}`, headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: { ...subscription('second'), id } });
  t.equal(updated.statusCode, 200);
  const alices = await subscribe(app, alice, 'alice');
  const others = await subscribe(app, otherPro, 'other');
  await subscribe(app, system, 'system');

  const history = await get(app, doctor, `/fhir/Subscription/${id}/_history`);
  t.equal(history.statusCode, 200);
  t.same((history.json() as Bundle).entry?.map((e) => e.resource?.meta?.versionId), ['2', '1'], 'the owner gets both versions of its Subscription, newest first');
  for (const vid of ['1', '2']) {
    const version = await get(app, doctor, `/fhir/Subscription/${id}/_history/${vid}`);
    t.equal(version.statusCode, 200, `the owner reads version ${vid}`);
    t.equal((version.json() as { meta: { versionId: string } }).meta.versionId, vid);
  }
  const mineHistory = await get(app, alice, `/fhir/Subscription/${alices}/_history`);
  t.equal((mineHistory.json() as Bundle).entry?.length, 1, 'a patient\'s app gets the history of its own Subscription');

  // Another party: as before, and as for any resource it may not read (read and vread refused, an empty history).
  for (const [name, authorization] of [['another professional', otherPro], ['a patient\'s app', alice]] as const) {
    t.equal((await get(app, authorization, `/fhir/Subscription/${id}`)).statusCode, 403, `${name}: read refused`);
    const vread = await get(app, authorization, `/fhir/Subscription/${id}/_history/1`);
    t.equal(vread.statusCode, 403, `${name}: vread refused`);
    t.match(vread.json(), { issue: [{ diagnostics: /outside-space/ }] });
    const theirs = await get(app, authorization, `/fhir/Subscription/${id}/_history`);
    t.equal(theirs.statusCode, 200, `${name}: the instance history answers as before`);
    t.same((theirs.json() as Bundle).entry ?? [], [], `${name}: with none of its versions`);
  }

  const typeHistory = await get(app, doctor, '/fhir/Subscription/_history');
  t.same(subscriptionsIn(typeHistory.json() as Bundle), [id], 'the type history shows the owner its Subscription, and no one else\'s');
  t.equal((typeHistory.json() as Bundle).entry?.length, 2, 'both its versions');
  const systemHistory = await get(app, doctor, '/fhir/_history');
  t.same(subscriptionsIn(systemHistory.json() as Bundle), [id], 'so does the system history');
  for (const [name, authorization, own] of [['another professional', otherPro, others], ['a patient\'s app', alice, alices]] as const) {
    for (const url of ['/fhir/Subscription/_history', '/fhir/_history']) {
      const res = await get(app, authorization, url);
      t.same(subscriptionsIn(res.json() as Bundle), [own], `${name}: ${url} shows its own Subscription only`);
    }
  }
  t.equal(subscriptionsIn((await get(app, system, '/fhir/Subscription/_history')).json() as Bundle).length, 4, 'a system client sees every Subscription\'s history');
});

t.test('audited as before: one AuditEvent per request in the trail of the patient an app acts for, none for a professional\'s Subscriptions', async (t) => {
  const space = await buildSpace(t, { config: { subscriptionAllowPrivateEndpoints: true } }); // a local receiver
  const { app } = space;
  const doctor = await professionalBearer(app, space.users.doctor);
  const alice = await holderBearer(app, space.users.alice);
  const bob = await holderBearer(app, space.users.bob);
  const system = await space.systemAuth();
  const doctors = await subscribe(app, doctor, 'audited');
  const alices = await subscribe(app, alice, 'audited');
  // [request id, caller, url, status, AuditEvents]: Subscriptions hold no patient data, so only a
  // search or history made for a patient (by her app) is an access to her space.
  const requests: Array<[string, string, string, number, number]> = [
    ['sub-pro-search', doctor, '/fhir/Subscription', 200, 0],
    ['sub-pro-history', doctor, `/fhir/Subscription/${doctors}/_history`, 200, 0],
    ['sub-pro-vread', doctor, `/fhir/Subscription/${doctors}/_history/1`, 200, 0],
    ['sub-app-search', alice, '/fhir/Subscription', 200, 1],
    ['sub-app-history', alice, `/fhir/Subscription/${alices}/_history`, 200, 1],
    ['sub-app-type-history', alice, '/fhir/Subscription/_history', 200, 1],
    ['sub-app-vread', alice, `/fhir/Subscription/${alices}/_history/1`, 200, 0],
    ['sub-other-search', bob, '/fhir/Subscription', 200, 1],
    ['sub-other-history', bob, `/fhir/Subscription/${alices}/_history`, 200, 1],
  ];
  for (const [requestId, authorization, url, status] of requests) t.equal((await get(app, authorization, url, requestId)).statusCode, status, url);
  for (const [requestId, , , , events] of requests) {
    const trail = (await get(app, system, `/fhir/AuditEvent?site=${requestId}`)).json() as Bundle;
    t.equal(trail.entry?.length ?? 0, events, `${requestId}: ${events} AuditEvent(s)`);
  }
});

t.test('Subscriptions created before their owners were listed are found; a listed one another party owns is not', async (t) => {
  const space = await buildSpace(t, { config: { subscriptionAllowPrivateEndpoints: true } }); // a local receiver
  const { app } = space;
  const doctor = await professionalBearer(app, space.users.doctor);
  const otherPro = await professionalBearer(app, space.users.otherPro);
  const mine = [await subscribe(app, doctor, 'old 1'), await subscribe(app, doctor, 'old 2')];
  const theirs = await subscribe(app, otherPro, 'theirs');
  const { kv } = app.engine;
  // As stored by an earlier version: owner records only, no list per party.
  const owners = await kv.list<Principal>('subscription-owner');
  t.equal(owners.length, 3);
  for (const { key, value } of owners) await kv.delete(`subscriptions-of:${partyKey(value)}`, key);
  // And an entry naming another party's Subscription under the doctor (as a crash between a release's two deletes could leave).
  const doctorParty = owners.find(({ key }) => key === mine[0])!.value;
  await kv.put(`subscriptions-of:${partyKey(doctorParty)}`, theirs, true);

  t.same(idsOf((await get(app, doctor, '/fhir/Subscription')).json() as Bundle), [...mine].sort(), 'the doctor finds its Subscriptions, and not the other one listed under it');
  t.same(idsOf((await get(app, otherPro, '/fhir/Subscription')).json() as Bundle), [theirs], 'the other professional finds its own');
});
