import t from 'tap';
import type { Bundle } from '@medplum/fhirtypes';
import { APPS, buildSpace, document, seed, signIn } from '../helpers/people.js';

// Found by an exploratory search test: a List or an AuditEvent reaches its reader without
// the references hidden from them, but searching on those references told they were there.
t.test('a search on a List\'s items or an AuditEvent\'s entities does not tell what is hidden', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const permittedPro = `Bearer ${(await signIn(app, { clientId: APPS.pro, username: space.users.permittedPro, scope: 'user/*.cruds' })).access_token}`;
  const doctor = `Bearer ${(await signIn(app, { clientId: APPS.pro, username: space.users.doctor, scope: 'user/*.cruds' })).access_token}`;
  const alice = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: 'launch/patient patient/*.cruds' })).access_token}`;
  const system = await space.systemAuth();
  const masked = await seed(space, document(space.alice, 'MASQUE_PS'));
  const plain = await seed(space, document(space.alice));
  const hiddenFromHer = await seed(space, document(space.alice, 'INVISIBLE_PATIENT'));
  const list = await seed(space, {
    resourceType: 'List', status: 'current', mode: 'working', subject: { reference: space.alice },
    entry: [{ item: { reference: `DocumentReference/${masked}` } }, { item: { reference: `DocumentReference/${plain}` } }],
  });
  const ids = async (authorization: string, url: string) => (((await app.inject({ url, headers: { authorization } })).json() as Bundle).entry ?? [])
    .filter((e) => e.search?.mode !== 'outcome').map((e) => e.resource!.id);

  t.same(await ids(permittedPro, `/fhir/List?item=DocumentReference/${plain}`), [list], 'a visible item finds its List');
  t.same(await ids(permittedPro, `/fhir/List?item=DocumentReference/${masked}`), [], 'a masked one does not');
  t.same(await ids(permittedPro, `/fhir/List?item=${masked}`), [], 'nor by its bare id');
  t.same(await ids(permittedPro, `/fhir/List?item=DocumentReference/${masked},DocumentReference/${plain}`), [list], 'an alternative still matches what is visible');
  t.same(await ids(permittedPro, `/fhir/Patient?_has:List:subject:item=DocumentReference/${masked}`), [], 'nor through _has');
  t.same(await ids(permittedPro, `/fhir/Patient?_has:List:subject:item=DocumentReference/${plain}`), [space.alice.split('/')[1]], '(which finds her through a visible item)');
  t.same(await ids(doctor, `/fhir/List?item=DocumentReference/${masked}`), [list], 'her regular doctor, who reads it, finds it');
  t.same(await ids(system, `/fhir/List?item=DocumentReference/${masked}`), [list], 'and so does a system client');

  for (const id of [hiddenFromHer, plain]) t.equal((await app.inject({ url: `/fhir/DocumentReference/${id}`, headers: { authorization: doctor } })).statusCode, 200);
  const count = async (authorization: string, url: string) => (await app.inject({ url, headers: { authorization } })).json().total as number;
  t.equal(await count(alice, `/fhir/AuditEvent?entity=DocumentReference/${hiddenFromHer}&_summary=count`), 0, 'her trail does not count accesses to a document hidden from her');
  t.ok((await count(system, `/fhir/AuditEvent?entity=DocumentReference/${hiddenFromHer}&_summary=count`)) >= 1, 'the access is recorded');
  t.ok((await count(alice, `/fhir/AuditEvent?entity=DocumentReference/${plain}&_summary=count`)) >= 1, 'accesses to a document she sees are found');
});
