import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditEvent, Bundle, DocumentReference, List } from '@medplum/fhirtypes';
import { FHIR_JSON, buildSpace, holderBearer, professionalBearer } from '../helpers/people.js';
import { waitFor } from '../helpers/wait-for.js';
import { VISIBILITY, provideBundle } from '../fixtures/mhd/provide-bundle.js';

const SUBSETTED = 'SUBSETTED';
const PATCH_JSON = 'application/json-patch+json';

t.test('a List or an AuditEvent names only what its reader may read', async (t) => {
  const space = await buildSpace(t, { config: { subscriptionAllowPrivateEndpoints: true } }); // a local receiver
  const { app } = space;
  const alice = await holderBearer(app, space.users.alice);
  const doctor = await professionalBearer(app, space.users.doctor);
  const permitted = await professionalBearer(app, space.users.permittedPro);

  const submission = provideBundle(space.alice, [{ author: space.doctor }, { author: space.doctor }]);
  (submission.entry[0]!.resource as List).source = { reference: space.doctor };
  const provided = await app.inject({ method: 'POST', url: '/fhir', headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: submission });
  t.equal(provided.statusCode, 200, provided.body.slice(0, 400));
  const [listLoc, firstLoc, secondLoc] = (provided.json() as Bundle).entry!.map((e) => e.response!.location!);
  const listId = listLoc!.split('/')[1]!;
  const [masked, hidden] = [firstLoc!.split('/')[1]!, secondLoc!.split('/')[1]!];
  const label = (code: string) => ({ op: 'add', path: '/securityLabel/-', value: { coding: [{ system: VISIBILITY, code }] } });
  const patch = async (authorization: string, id: string, code: string) => {
    const res = await app.inject({ method: 'PATCH', url: `/fhir/DocumentReference/${id}`, headers: { authorization, 'content-type': PATCH_JSON }, payload: JSON.stringify([label(code)]) });
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
  };
  await patch(alice, masked, 'MASQUE_PS');
  await patch(doctor, hidden, 'INVISIBLE_PATIENT');

  const items = (list: List) => (list.entry ?? []).map((e) => e.item.reference!.split('/')[1]).sort();
  const subsetted = (list: List) => (list.meta?.tag ?? []).some((tag) => tag.code === SUBSETTED);
  const get = async (authorization: string, url: string) => {
    const res = await app.inject({ url, headers: { authorization } });
    t.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 200)}`);
    return res.json();
  };

  t.test('read and vread', async (t) => {
    const seen = await get(permitted, `/fhir/List/${listId}`) as List;
    t.same(items(seen), [hidden], 'a consented professional does not learn the masked document exists');
    t.ok(subsetted(seen), 'and is told the List is incomplete');
    t.same(items(await get(permitted, `/fhir/List/${listId}/_history/1`) as List), [hidden], 'vread too');
    const mine = await get(alice, `/fhir/List/${listId}`) as List;
    t.same(items(mine), [masked], 'the patient does not learn of the document hidden from her');
    const whole = await get(doctor, `/fhir/List/${listId}`) as List;
    t.same(items(whole), [masked, hidden].sort(), 'the regular doctor sees every item');
    t.notOk(subsetted(whole), 'and an untouched List');
  });

  t.test('search, history and a batch GET', async (t) => {
    const found = await get(permitted, `/fhir/List?patient=${space.alice}&code=https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset`) as Bundle;
    const list = found.entry!.find((e) => e.resource?.id === listId)!.resource as List;
    t.same(items(list), [hidden], 'search');
    const history = await get(permitted, `/fhir/List/${listId}/_history`) as Bundle;
    t.same(items(history.entry![0]!.resource as List), [hidden], 'history');
    const included = await get(permitted, `/fhir/DocumentReference?_id=${hidden}&_revinclude=List:item`) as Bundle;
    const viaInclude = included.entry!.find((e) => e.resource?.resourceType === 'List')!.resource as List;
    t.same(items(viaInclude), [hidden], '_revinclude');
    const batch = await app.inject({
      method: 'POST', url: '/fhir', headers: { authorization: permitted, 'content-type': FHIR_JSON },
      payload: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `List/${listId}` } }] },
    });
    t.same(items((batch.json() as Bundle).entry![0]!.resource as List), [hidden], 'batch GET entry');
  });

  t.test('a professional\'s rest-hook Subscription to Lists gets them as a read would give them', async (t) => {
    const bodies: string[] = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise((resolve) => receiver.close(resolve)));
    const subscribed = await app.inject({
      method: 'POST', url: '/fhir/Subscription', headers: { authorization: permitted, 'content-type': FHIR_JSON },
      payload: {
        resourceType: 'Subscription', status: 'requested', reason: 'new submissions', criteria: `List?patient=${space.alice}`,
        channel: { type: 'rest-hook', endpoint: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, payload: FHIR_JSON },
      },
    });
    t.equal(subscribed.statusCode, 201, subscribed.body.slice(0, 300));
    // Filed already masked at the patient's request, next to a plain one.
    const next = provideBundle(space.alice, [{ author: space.doctor }, { author: space.doctor }]);
    (next.entry[0]!.resource as List).source = { reference: space.doctor };
    (next.entry[1]!.resource as DocumentReference).securityLabel!.push({ coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] });
    const res = await app.inject({ method: 'POST', url: '/fhir', headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: next });
    t.equal(res.statusCode, 200, res.body.slice(0, 400));
    const [newList, maskedAtFiling, plain] = (res.json() as Bundle).entry!.map((e) => e.response!.location!.split('/')[1]!);
    const body = await waitFor(() => bodies.find((b) => b.includes(`"id":"${newList}"`)), 5000);
    const delivered = JSON.parse(body) as List;
    t.same(items(delivered), [plain], 'the payload leaves the masked document out');
    t.notOk(body.includes(maskedAtFiling!), 'its id appears nowhere');
    t.ok(subsetted(delivered));
  });

  t.test('the patient\'s trail tells who accessed her space, not the ids of what is hidden from her', async (t) => {
    await app.audit.settle();
    const res = await app.inject({ url: `/fhir/AuditEvent?patient=${space.alice}&_count=500`, headers: { authorization: alice } });
    t.equal(res.statusCode, 200, res.body.slice(0, 200));
    const events = ((res.json() as Bundle).entry ?? []).map((e) => e.resource as AuditEvent);
    const named = events.flatMap((e) => (e.entity ?? []).map((x) => x.what?.reference ?? ''));
    t.notOk(named.some((r) => r.endsWith(`/${hidden}`)), 'the document hidden from her is named nowhere');
    t.ok(named.some((r) => r.endsWith(`/${masked}`)), 'the one she masked from others still is');
    const submission = events.filter((e) => e.agent.some((a) => a.who?.reference === space.doctor) && (e.meta?.tag ?? []).some((tag) => tag.code === SUBSETTED));
    t.ok(submission.length >= 1, 'the doctor\'s access is still there, marked incomplete');
    const system = await app.inject({ url: `/fhir/AuditEvent?entity=DocumentReference/${hidden}&_summary=count`, headers: { authorization: await space.systemAuth() } });
    t.ok((system.json() as Bundle).total! >= 1, 'the full record is kept');
  });

  t.test('a system client reads the List as stored', async (t) => {
    const res = await app.inject({ url: `/fhir/List/${listId}`, headers: { authorization: await space.systemAuth() } });
    t.same(items(res.json() as List), [masked, hidden].sort());
  });
});
