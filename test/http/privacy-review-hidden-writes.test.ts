import t from 'tap';
import type { Test } from 'tap';
import type { Bundle, BundleEntry, List, OperationOutcome } from '@medplum/fhirtypes';
import { FHIR_JSON, buildSpace, holderBearer, professionalBearer } from '../helpers/people.js';
import { VISIBILITY, provideBundle } from '../fixtures/mhd/provide-bundle.js';

const PATCH_JSON = 'application/json-patch+json';
const SUBSETTED_TAG = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };

/**
 * A List (an MHD SubmissionSet) names a document the patient masked from
 * professionals and one hidden from her. What a read leaves out of it stays
 * out of every write's answer; a change to it by someone who cannot see all of
 * it is refused before it applies (no data lost, no PATCH `test` oracle); a
 * resource tagged SUBSETTED is never written.
 */
t.test('writes of a List keep its hidden items hidden, and intact', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const alice = await holderBearer(app, space.users.alice);
  const doctor = await professionalBearer(app, space.users.doctor);
  const permitted = await professionalBearer(app, space.users.permittedPro);
  const system = await space.systemAuth();

  const submission = provideBundle(space.alice, [{ author: space.doctor }, { author: space.doctor }]);
  (submission.entry[0]!.resource as List).source = { reference: space.doctor };
  const listIdentifier = (submission.entry[0]!.resource as List).identifier![0]!;
  const provided = await app.inject({ method: 'POST', url: '/fhir', headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: submission });
  t.equal(provided.statusCode, 200, provided.body.slice(0, 400));
  const [listLoc, firstLoc, secondLoc] = (provided.json() as Bundle).entry!.map((e) => e.response!.location!);
  const listId = listLoc!.split('/')[1]!;
  const [masked, hidden] = [firstLoc!.split('/')[1]!, secondLoc!.split('/')[1]!];
  const label = async (authorization: string, id: string, code: string) => {
    const res = await app.inject({ method: 'PATCH', url: `/fhir/DocumentReference/${id}`, headers: { authorization, 'content-type': PATCH_JSON }, payload: JSON.stringify([{ op: 'add', path: '/securityLabel/-', value: { coding: [{ system: VISIBILITY, code }] } }]) });
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
  };
  await label(alice, masked, 'MASQUE_PS');
  await label(doctor, hidden, 'INVISIBLE_PATIENT');

  const items = (list: List) => (list.entry ?? []).map((e) => e.item.reference!.split('/')[1]).sort();
  const isSubsetted = (resource: { meta?: List['meta'] }) => (resource.meta?.tag ?? []).some((tag) => tag.code === 'SUBSETTED');
  const stored = async () => (await app.inject({ url: `/fhir/List/${listId}`, headers: { authorization: system } })).json() as List;
  const original = await stored();
  const unchanged = async (t: Tap, what: string) => {
    const now = await stored();
    t.same(items(now), [masked, hidden].sort(), `${what}: every item is still stored`);
    t.equal(now.meta?.versionId, original.meta?.versionId, `${what}: no new version`);
    t.notOk(isSubsetted(now), `${what}: no SUBSETTED tag stored`);
  };
  const send = (authorization: string, method: 'POST' | 'PUT' | 'PATCH', url: string, payload: unknown, headers: Record<string, string> = {}) => app.inject({
    method, url, headers: { authorization, 'content-type': method === 'PATCH' ? PATCH_JSON : FHIR_JSON, ...headers }, payload: JSON.stringify(payload),
  });
  const bundle = (authorization: string, type: 'batch' | 'transaction', entry: BundleEntry[]) => send(authorization, 'POST', '/fhir', { resourceType: 'Bundle', type, entry });
  const patchBinary = (ops: unknown) => ({ resourceType: 'Binary', contentType: PATCH_JSON, data: Buffer.from(JSON.stringify(ops)).toString('base64') });
  const newList = (extra: Partial<List> = {}): List => ({
    resourceType: 'List', status: 'current', mode: 'working', subject: { reference: space.alice },
    entry: [{ item: { reference: `DocumentReference/${masked}` } }, { item: { reference: `DocumentReference/${hidden}` } }], ...extra,
  });

  t.test('every write answer shows the List as a read would', async (t) => {
    const shows = (t: Tap, body: string, what: string) => {
      const list = JSON.parse(body) as List;
      t.same(items(list), [hidden], `${what}: only what the professional may read`);
      t.ok(isSubsetted(list), `${what}: tagged SUBSETTED`);
      t.notOk(body.includes(masked), `${what}: the masked document's id appears nowhere`);
    };
    const created = await send(permitted, 'POST', '/fhir/List', newList());
    t.equal(created.statusCode, 201, created.body.slice(0, 300));
    shows(t, created.body, 'POST');
    const matched = await send(permitted, 'POST', '/fhir/List', newList(), { 'if-none-exist': `identifier=${listIdentifier.system}|${listIdentifier.value}` });
    t.equal(matched.statusCode, 200, matched.body.slice(0, 300));
    shows(t, matched.body, 'POST whose If-None-Exist matched');
    const put = await send(permitted, 'PUT', '/fhir/List/review-put', newList({ id: 'review-put' }));
    t.equal(put.statusCode, 201, put.body.slice(0, 300));
    shows(t, put.body, 'PUT creating');
    const conditional = await send(permitted, 'PUT', '/fhir/List?identifier=urn:review|conditional', newList({ identifier: [{ system: 'urn:review', value: 'conditional' }] }));
    t.equal(conditional.statusCode, 201, conditional.body.slice(0, 300));
    shows(t, conditional.body, 'conditional PUT');
    for (const type of ['batch', 'transaction'] as const) {
      const res = await bundle(permitted, type, [
        { resource: newList(), request: { method: 'POST', url: 'List' } },
        { resource: newList(), request: { method: 'POST', url: 'List', ifNoneExist: `identifier=${listIdentifier.system}|${listIdentifier.value}` } },
      ]);
      t.equal(res.statusCode, 200, res.body.slice(0, 300));
      const entries = (res.json() as Bundle).entry!;
      t.same(entries.map((e) => e.response?.status), ['201 Created', '200 OK'], type);
      entries.forEach((e, i) => shows(t, JSON.stringify(e.resource), `${type} entry ${i}`));
    }
  });

  t.test('a change by someone from whom the List hides items is refused before it applies', async (t) => {
    const refused = (t: Tap, res: { statusCode: number; body: string; json: () => unknown }, what: string) => {
      t.equal(res.statusCode, 403, `${what}: 403`);
      t.match(res.json() as OperationOutcome, { resourceType: 'OperationOutcome', issue: [{ code: 'forbidden', diagnostics: /hidden-items/ }] }, `${what}: names the rule`);
      t.notOk(res.body.includes(masked), `${what}: tells nothing of the masked document`);
    };
    refused(t, await send(permitted, 'PATCH', `/fhir/List/${listId}`, [{ op: 'add', path: '/title', value: 'Mine now' }]), 'a harmless PATCH');
    const oracle = await send(permitted, 'PATCH', `/fhir/List/${listId}`, [{ op: 'test', path: '/entry/0/item/reference', value: `DocumentReference/${masked}` }]);
    const wrongGuess = await send(permitted, 'PATCH', `/fhir/List/${listId}`, [{ op: 'test', path: '/entry/0/item/reference', value: 'DocumentReference/nothing-here' }]);
    refused(t, oracle, 'a PATCH test on the hidden item');
    t.equal(wrongGuess.statusCode, oracle.statusCode, 'a right and a wrong guess get the same answer');
    const batch = await bundle(permitted, 'batch', [{ resource: patchBinary([{ op: 'add', path: '/title', value: 'x' }]) as never, request: { method: 'PATCH', url: `List/${listId}` } }]);
    t.equal(batch.statusCode, 200);
    const entry = (batch.json() as Bundle).entry![0]!;
    t.equal(entry.response?.status, '403', 'a batch PATCH entry');
    t.notOk(batch.body.includes(masked));

    const mine = (await app.inject({ url: `/fhir/List/${listId}`, headers: { authorization: alice } })).json() as List;
    t.same(items(mine), [masked], 'the patient reads the List without the document hidden from her');
    const { meta: _meta, ...untagged } = mine;
    refused(t, await send(alice, 'PUT', `/fhir/List/${listId}`, untagged), 'the patient\'s PUT of the List as she sees it');
    refused(t, await send(alice, 'PUT', `/fhir/List?_id=${listId}`, untagged), 'a conditional PUT');
    refused(t, await send(alice, 'PATCH', `/fhir/List/${listId}`, [{ op: 'add', path: '/title', value: 'Mine' }]), 'the patient\'s PATCH');
    const batchPut = await bundle(alice, 'batch', [{ resource: untagged, request: { method: 'PUT', url: `List/${listId}` } }]);
    t.equal((batchPut.json() as Bundle).entry![0]!.response?.status, '403', 'a batch PUT entry');
    // (A transaction holding a SubmissionSet List is an ITI-65 submission, checked as one: a PATCH entry here.)
    const transaction = await bundle(alice, 'transaction', [{ resource: patchBinary([{ op: 'add', path: '/title', value: 'x' }]) as never, request: { method: 'PATCH', url: `List/${listId}` } }]);
    t.equal(transaction.statusCode, 403, 'a transaction PATCH entry');
    t.notOk(transaction.body.includes(hidden), 'tells nothing of the document hidden from her');
    await unchanged(t, 'after the refusals');

    const whole = await send(doctor, 'PATCH', `/fhir/List/${listId}`, [{ op: 'add', path: '/title', value: 'Consultation' }]);
    t.equal(whole.statusCode, 200, 'the regular doctor, who sees every item, may change it');
    t.same(items(whole.json() as List), [masked, hidden].sort());
    const now = await stored();
    original.meta = now.meta; // the doctor's version is the one the next tests start from
  });

  t.test('nor is a delete by someone from whom the List hides items', async (t) => {
    const del = (url: string) => app.inject({ method: 'DELETE', url, headers: { authorization: permitted } });
    for (const [what, res] of [
      ['DELETE', await del(`/fhir/List/${listId}`)],
      ['conditional DELETE', await del(`/fhir/List?identifier=${encodeURIComponent(`${listIdentifier.system}|${listIdentifier.value}`)}`)],
    ] as const) {
      t.equal(res.statusCode, 403, `${what}: ${res.body.slice(0, 200)}`);
      t.match(res.body, /hidden-items/);
      await unchanged(t, what);
    }
    const batch = await bundle(permitted, 'batch', [{ request: { method: 'DELETE', url: `List/${listId}` } }]);
    t.match((batch.json() as Bundle).entry?.[0]?.response?.status, /^403/, 'a batch DELETE entry');
    await unchanged(t, 'batch DELETE');
    t.equal((await app.inject({ method: 'DELETE', url: `/fhir/List/${listId}`, headers: { authorization: alice } })).statusCode, 403, 'the patient (one item is hidden from her) neither');
    await unchanged(t, 'her DELETE');
  });

  t.test('a resource tagged SUBSETTED is never written (422)', async (t) => {
    const unprocessable = (t: Tap, res: { statusCode: number; body: string; json: () => unknown }, what: string) => {
      t.equal(res.statusCode, 422, `${what}: 422`);
      t.match(res.json() as OperationOutcome, { issue: [{ details: { coding: [{ code: 'FHIR_ERR_REST_SUBSETTED' }] } }] }, `${what}: its own error code`);
    };
    const mine = (await app.inject({ url: `/fhir/List/${listId}`, headers: { authorization: alice } })).json() as List;
    t.ok(isSubsetted(mine));
    const hers = await send(alice, 'PUT', `/fhir/List/${listId}`, mine);
    t.equal(hers.statusCode, 403, 'the patient PUTting back the List exactly as she read it: she may not change it at all');
    t.match(hers.body, /hidden-items/);
    await unchanged(t, 'after her PUT');
    const whole = await stored();
    unprocessable(t, await send(doctor, 'PUT', `/fhir/List/${listId}`, { ...whole, meta: { tag: [SUBSETTED_TAG] } }), 'a PUT by someone who sees it all');
    unprocessable(t, await send(doctor, 'PATCH', `/fhir/List/${listId}`, [{ op: 'add', path: '/meta/tag', value: [SUBSETTED_TAG] }]), 'a PATCH adding the tag');
    unprocessable(t, await send(doctor, 'POST', '/fhir/List', newList({ meta: { tag: [SUBSETTED_TAG] } })), 'a create');
    await unchanged(t, 'after the refused writes');
    const batch = await bundle(doctor, 'batch', [
      { resource: newList({ meta: { tag: [SUBSETTED_TAG] } }), request: { method: 'POST', url: 'List' } },
      { resource: { ...whole, meta: { tag: [SUBSETTED_TAG] } }, request: { method: 'PUT', url: `List/${listId}` } },
      { resource: patchBinary([{ op: 'add', path: '/meta/tag', value: [SUBSETTED_TAG] }]) as never, request: { method: 'PATCH', url: `List/${listId}` } },
    ]);
    t.same((batch.json() as Bundle).entry!.map((e) => e.response?.status), ['422', '422', '422'], 'batch entries');
    await unchanged(t, 'after the batch');
    // Every write path, not only the REST and Bundle routes: the repository refuses it.
    const binary = { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from('partial').toString('base64'), meta: { tag: [SUBSETTED_TAG] } };
    unprocessable(t, await send(system, 'POST', '/fhir/Binary', binary), 'a Binary sent as FHIR JSON');
    const subscription = {
      resourceType: 'Subscription', status: 'requested', reason: 'review', criteria: 'Observation?category=vital-signs',
      channel: { type: 'rest-hook', endpoint: 'https://hooks.example/carnet' }, meta: { tag: [SUBSETTED_TAG] },
    };
    unprocessable(t, await send(system, 'POST', '/fhir/Subscription', subscription), 'a Subscription');
    const kept = await app.inject({ url: '/fhir/Subscription?_count=50', headers: { authorization: system } });
    t.equal((kept.json() as Bundle).total ?? (kept.json() as Bundle).entry?.length ?? 0, 0, 'no Subscription was stored');
  });

  t.test('a condition naming a hidden item matches nothing, as a search would: no yes/no answer on it', async (t) => {
    // With _id, the condition can only match the List under test.
    const create = async (authorization: string, document: string) =>
      (await send(authorization, 'POST', '/fhir/List', newList(), { 'if-none-exist': `_id=${listId}&item=DocumentReference/${document}` })).statusCode;
    t.equal(await create(doctor, masked), 200, 'whoever may read the document finds the List naming it');
    // No match either way, so it would create; a new List cannot satisfy `_id` of another: the same 400 for both.
    t.equal(await create(permitted, 'never-stored'), 400, 'a document never stored: no match');
    t.equal(await create(permitted, masked), 400, 'the document masked from him: no match either, and the same answer');
    const put = await send(permitted, 'PUT', `/fhir/List?_id=${listId}&item=DocumentReference/${masked}`, newList());
    const putNeverStored = await send(permitted, 'PUT', `/fhir/List?_id=${listId}&item=DocumentReference/never-stored`, newList());
    t.equal(put.statusCode, putNeverStored.statusCode, 'a conditional update answers as for a document never stored (not a 403 on the List)');
    t.equal(put.statusCode, 400);
    const batch = await bundle(permitted, 'batch', [{ resource: newList(), request: { method: 'POST', url: 'List', ifNoneExist: `_id=${listId}&item=DocumentReference/${masked}` } }]);
    t.match((batch.json() as Bundle).entry?.[0]?.response?.status, /^400/, 'a batch entry\'s If-None-Exist');
    await unchanged(t, 'after the conditional writes');
  });
});

t.test('a patient\'s trail does not tell another patient\'s privacy decision', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const shared = await app.inject({
    method: 'POST', url: '/fhir/Appointment', headers: { authorization: system, 'content-type': FHIR_JSON },
    payload: { resourceType: 'Appointment', status: 'booked', start: '2026-03-01T10:00:00Z', end: '2026-03-01T10:30:00Z', participant: [{ actor: { reference: space.alice }, status: 'accepted' }, { actor: { reference: space.bob }, status: 'accepted' }] },
  });
  t.equal(shared.statusCode, 201, shared.body.slice(0, 300));
  const blocked = await professionalBearer(app, space.users.blockedPro);
  const read = await app.inject({ url: `/fhir/Appointment/${(shared.json() as { id: string }).id}`, headers: { authorization: blocked } });
  t.equal(read.statusCode, 403);
  t.match(read.body, /blocked-by-patient/, 'alice blocked this professional');

  await app.audit.settle();
  const bob = await holderBearer(app, space.users.bob);
  const trail = await app.inject({ url: `/fhir/AuditEvent?patient=${space.bob}&_count=500`, headers: { authorization: bob } });
  t.equal(trail.statusCode, 200, trail.body.slice(0, 200));
  const events = ((trail.json() as Bundle).entry ?? []).map((e) => e.resource as { meta?: List['meta']; outcome?: string; outcomeDesc?: string; agent: Array<{ who?: { reference?: string } }> });
  const refusal = events.filter((e) => e.agent.some((a) => a.who?.reference === space.blockedPro));
  t.equal(refusal.length, 1, 'bob is told that this professional tried to access his space');
  t.ok(isTagged(refusal[0]), 'the event is marked incomplete');
  t.ok(refusal[0]?.outcome && refusal[0].outcome !== '0', 'with the outcome: refused');
  t.equal(refusal[0]?.outcomeDesc, undefined, 'not why: that was alice\'s decision');
  t.notOk(trail.body.includes('blocked'), 'alice\'s block is named nowhere in bob\'s trail');
});

type Tap = Test;

function isTagged(resource: { meta?: List['meta'] } | undefined): boolean {
  return (resource?.meta?.tag ?? []).some((tag) => tag.code === 'SUBSETTED');
}
