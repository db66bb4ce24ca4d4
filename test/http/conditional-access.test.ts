import t from 'tap';
import { APPS, FHIR_JSON, buildSpace, document, observation, seed, signIn } from '../helpers/people.js';

// A conditional interaction is a search followed by a write: both stay within what the caller may do.
t.test('conditional interactions never reach what the caller may not see or change', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const alice = await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: 'patient/*.cruds launch/patient' });
  const auth = { authorization: `Bearer ${alice.access_token}` };
  const bobObs = await seed(space, observation(space.bob, 'laboratory', { identifier: [{ system: 'urn:t', value: 'bob-lab' }] }));
  const bobDoc = await seed(space, document(space.bob, undefined, 'bob report'));
  const hiddenDoc = await seed(space, document(space.alice, 'INVISIBLE_PATIENT', 'to be told face to face'));
  const system = { authorization: await space.systemAuth() };
  const read = async (url: string) => app.inject({ url: `/fhir/${url}`, headers: system });
  // Her own Observation carrying Bob's identifier would be the visible match of the next attempt: gone after each.
  const forget = async (id: string | undefined) => { if (id) await app.inject({ method: 'DELETE', url: `/fhir/Observation/${id}`, headers: system }); };
  const mine = observation(space.alice, 'vital-signs');
  // What she creates under Bob's identifier carries it: a resource created under a condition must satisfy it.
  const mineAsBobLab = observation(space.alice, 'vital-signs', { identifier: [{ system: 'urn:t', value: 'bob-lab' }] });

  t.test('If-None-Exist: a hidden resource is no match, and is never returned', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/fhir/Observation', headers: { ...auth, 'content-type': FHIR_JSON, 'if-none-exist': 'identifier=urn:t|bob-lab' }, payload: mineAsBobLab });
    t.equal(res.statusCode, 201, 'created: the other patient\'s Observation did not count');
    t.not(res.json().id, bobObs);
    t.equal(res.json().subject.reference, space.alice);
    await forget(res.json().id);
    const hidden = await app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: { ...auth, 'content-type': FHIR_JSON, 'if-none-exist': `_id=${hiddenDoc}` }, payload: { ...document(space.alice), type: { coding: [{ system: 'http://loinc.org', code: '11488-4' }] } } });
    t.not(hidden.statusCode, 200, 'a document hidden from its holder is no match for her either');
    t.not(hidden.json().id, hiddenDoc);
    t.notMatch(hidden.body, /face to face/);
    const batch = await app.inject({ method: 'POST', url: '/fhir', headers: { ...auth, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'POST', url: 'Observation', ifNoneExist: 'identifier=urn:t|bob-lab' }, resource: mineAsBobLab }] } });
    t.match(batch.json().entry[0].response.status, /^201/, `in a batch too: ${JSON.stringify(batch.json().entry[0].response)}`);
    t.not(batch.json().entry[0].resource?.id, bobObs);
    await forget(batch.json().entry[0].response.location?.split('/')[1]);
  });

  t.test('a visible match is answered as a read of it (and audited as one)', async (t) => {
    const own = await seed(space, observation(space.alice, 'vital-signs', { identifier: [{ system: 'urn:t', value: 'alice-w' }] }));
    const res = await app.inject({ method: 'POST', url: '/fhir/Observation', headers: { ...auth, 'content-type': FHIR_JSON, 'if-none-exist': 'identifier=urn:t|alice-w', 'x-request-id': 'cond-read-1' }, payload: mine });
    t.equal(res.statusCode, 200);
    t.equal(res.json().id, own);
    const events = (await app.inject({ url: '/fhir/AuditEvent?site=cond-read-1', headers: system })).json();
    t.ok(events.entry?.some((e: { resource: { subtype: Array<{ code: string }> } }) => e.resource.subtype[0]!.code === 'read'), 'a read AuditEvent names the match');
  });

  t.test('conditional update: a hidden resource is no match; it is not overwritten', async (t) => {
    const res = await app.inject({ method: 'PUT', url: '/fhir/Observation?identifier=urn:t|bob-lab', headers: { ...auth, 'content-type': FHIR_JSON }, payload: mineAsBobLab });
    t.equal(res.statusCode, 201, `no visible match: a new resource in her own space: ${res.body}`);
    t.not(res.json().id, bobObs);
    const bobs = (await read(`Observation/${bobObs}`)).json();
    t.equal(bobs.subject.reference, space.bob, 'the other patient\'s Observation is untouched');
    t.equal(bobs.meta.versionId, '1');
    await forget(res.json().id);
    const doc = await app.inject({ method: 'PUT', url: `/fhir/DocumentReference?_id=${bobDoc}`, headers: { ...auth, 'content-type': FHIR_JSON }, payload: document(space.alice, undefined, 'taken over') });
    t.not(doc.statusCode, 200, 'no visible match: not an update of Bob\'s document');
    t.not(doc.json().id, bobDoc);
    t.equal((await read(`DocumentReference/${bobDoc}`)).json().description, 'bob report');
    const tx = await app.inject({ method: 'POST', url: '/fhir', headers: { ...auth, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PUT', url: 'Observation?identifier=urn:t|bob-lab' }, resource: mineAsBobLab }] } });
    t.equal(tx.statusCode, 200);
    t.equal((await read(`Observation/${bobObs}`)).json().meta.versionId, '1', 'in a transaction too');
  });

  t.test('conditional update of a visible match follows the rules of a PUT on it', async (t) => {
    const report = await seed(space, document(space.alice, undefined, 'doctor report'));
    const res = await app.inject({ method: 'PUT', url: `/fhir/DocumentReference?_id=${report}`, headers: { ...auth, 'content-type': FHIR_JSON }, payload: { ...document(space.alice, undefined, 'rewritten by the patient'), id: report } });
    const direct = await app.inject({ method: 'PUT', url: `/fhir/DocumentReference/${report}`, headers: { ...auth, 'content-type': FHIR_JSON }, payload: { ...document(space.alice, undefined, 'rewritten by the patient'), id: report } });
    t.ok(direct.statusCode >= 400, `a direct PUT is refused (${direct.statusCode})`);
    t.equal(res.statusCode, direct.statusCode, 'the conditional PUT is refused alike');
    t.equal((await read(`DocumentReference/${report}`)).json().description, 'doctor report');
  });

  t.test('conditional delete: a hidden resource is no match; a visible one is deleted only as a DELETE on it would be', async (t) => {
    const hidden = await app.inject({ method: 'DELETE', url: `/fhir/Observation?_id=${bobObs}`, headers: auth });
    t.equal(hidden.statusCode, 200);
    t.match(hidden.json().issue[0].diagnostics, /No match/);
    t.equal((await read(`Observation/${bobObs}`)).statusCode, 200, 'still there');
    const report = await seed(space, document(space.alice, undefined, 'doctor report 2'));
    const refused = await app.inject({ method: 'DELETE', url: `/fhir/DocumentReference?_id=${report}`, headers: auth });
    const direct = await app.inject({ method: 'DELETE', url: `/fhir/DocumentReference/${report}`, headers: auth });
    t.equal(direct.statusCode, 403, 'a patient may not delete a professional\'s document');
    t.equal(refused.statusCode, 403, 'nor by a condition');
    t.equal((await read(`DocumentReference/${report}`)).statusCode, 200);
    const txDelete = await app.inject({ method: 'POST', url: '/fhir', headers: { ...auth, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: `Observation/${bobObs}` } }] } });
    t.equal(txDelete.statusCode, 403, 'a transaction DELETE of another patient\'s resource is refused');
    t.equal((await read(`Observation/${bobObs}`)).statusCode, 200);
  });

  t.test('a transaction PUT or PATCH on another patient\'s resource is refused, even when it moves it into her space', async (t) => {
    const put = await app.inject({ method: 'POST', url: '/fhir', headers: { ...auth, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PUT', url: `Observation/${bobObs}` }, resource: { ...mine, id: bobObs } }] } });
    t.equal(put.statusCode, 403);
    const patch = [{ op: 'replace', path: '/subject/reference', value: space.alice }];
    const tx = await app.inject({ method: 'POST', url: '/fhir', headers: { ...auth, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PATCH', url: `Observation/${bobObs}` }, resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(patch)).toString('base64') } }] } });
    t.equal(tx.statusCode, 403);
    t.equal((await read(`Observation/${bobObs}`)).json().subject.reference, space.bob);
  });

  t.test('a conditional reference resolves only to what the caller may see', async (t) => {
    const other = await seed(space, observation(space.bob, 'laboratory', { identifier: [{ system: 'urn:t', value: 'bob-lab-2' }] }));
    const res = await app.inject({ method: 'POST', url: '/fhir', headers: { ...auth, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Observation' }, resource: { ...mine, hasMember: [{ reference: 'Observation?identifier=urn:t|bob-lab-2' }] } }] } });
    t.equal(res.statusCode, 412, 'no visible match: the reference does not resolve');
    t.notMatch(res.body, new RegExp(other));
  });
});
