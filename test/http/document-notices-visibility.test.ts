import t from 'tap';
import { APPS, buildSpace, document, seed, signIn } from '../helpers/people.js';
import { documentAddedNotices } from '../../src/space/notifications/document-notices.js';

// The notice that a document was added must not reveal a document its reader may not see.
t.test('a document-added notice is as visible as its document', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const plain = await seed(space, document(space.alice, undefined, 'plain'));
  const hidden = await seed(space, document(space.alice, 'INVISIBLE_PATIENT', 'to be told face to face'));
  const forChild = await seed(space, document(space.minor, 'INVISIBLE_REPRESENTANTS_LEGAUX', 'not for the parents'));
  const childPlain = await seed(space, document(space.minor, undefined, 'vaccination'));
  const abouts = async (username: string, patient?: string) => {
    const tokens = await signIn(app, { clientId: APPS.holder, username, scope: 'patient/*.rs launch/patient', ...(patient ? { patient } : {}) });
    const res = await app.inject({ url: '/fhir/Communication?_count=100', headers: { authorization: `Bearer ${tokens.access_token}` } });
    t.equal(res.statusCode, 200);
    return (res.json().entry ?? []).flatMap((e: { resource: { about?: Array<{ reference: string }> } }) => e.resource.about?.map((a) => a.reference) ?? []);
  };
  const alice = await abouts(space.users.alice);
  t.ok(alice.includes(`DocumentReference/${plain}`), 'the holder is told of a plain document');
  t.notOk(alice.includes(`DocumentReference/${hidden}`), 'not of one hidden from her this month');
  const parent = await abouts(space.users.parent, space.minor.slice('Patient/'.length));
  t.ok(parent.includes(`DocumentReference/${childPlain}`), 'the parent is told of the child\'s plain document');
  t.notOk(parent.includes(`DocumentReference/${forChild}`), 'not of one hidden from legal representatives');
  const system = await app.inject({ url: `/fhir/Communication?subject=${space.alice}&_count=100`, headers: { authorization: await space.systemAuth() } });
  const notices = (system.json().entry ?? []).filter((e: { resource: { about?: Array<{ reference: string }> } }) => e.resource.about?.[0]?.reference === `DocumentReference/${hidden}`);
  t.equal(notices.length, 1, 'the notice exists, for those who may see it');

  t.test('a notice follows its document\'s labels when they change later', async (t) => {
    const professional = async (username: string) => {
      const tokens = await signIn(app, { clientId: APPS.pro, username, scope: 'user/*.cruds' });
      return `Bearer ${tokens.access_token}`;
    };
    const [doctor, permitted] = [await professional(space.users.doctor), await professional(space.users.permittedPro)];
    const proAbouts = async (authorization: string) => {
      const res = await app.inject({ url: `/fhir/Communication?subject=${space.alice}&_count=100`, headers: { authorization } });
      t.equal(res.statusCode, 200, res.body.slice(0, 200));
      return (res.json().entry ?? []).flatMap((e: { resource: { about?: Array<{ reference: string }> } }) => e.resource.about?.map((a) => a.reference) ?? []);
    };
    const label = (code: string) => [{ op: 'add', path: '/securityLabel', value: [{ coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument', code }] }] }];
    const patch = (authorization: string, id: string, operations: unknown[]) => app.inject({
      method: 'PATCH', url: `/fhir/DocumentReference/${id}`, headers: { authorization, 'content-type': 'application/json-patch+json' }, payload: JSON.stringify(operations),
    });
    const holder = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: 'patient/*.cruds launch/patient' })).access_token}`;

    t.ok((await proAbouts(permitted)).includes(`DocumentReference/${plain}`), 'a consented professional sees the notice of a plain document');
    t.equal((await patch(holder, plain, label('MASQUE_PS'))).statusCode, 200, 'the holder masks it');
    t.notOk((await proAbouts(permitted)).includes(`DocumentReference/${plain}`), 'the notice is masked with it');
    t.ok((await proAbouts(doctor)).includes(`DocumentReference/${plain}`), 'the regular doctor still sees it');

    const later = await seed(space, document(space.alice, undefined, 'told now, hidden later'));
    t.ok((await abouts(space.users.alice)).includes(`DocumentReference/${later}`), 'the holder is told of it');
    t.equal((await patch(doctor, later, label('INVISIBLE_PATIENT'))).statusCode, 200, 'the doctor then hides it from her');
    t.notOk((await abouts(space.users.alice)).includes(`DocumentReference/${later}`), 'and its notice with it');

    // Replicas sharing a store run their commit listeners in no common order: the listener of the
    // masking (version 2) may run after the unmasking (version 3) was committed and relabelled.
    // Signed in again: each sign-in records what the holder grants her app, and `abouts` granted reading only.
    const writer = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: 'patient/*.cruds launch/patient' })).access_token}`;
    const unmask = await patch(writer, plain, [{ op: 'remove', path: '/securityLabel' }]);
    t.equal(unmask.statusCode, 200, unmask.body.slice(0, 400));
    t.ok((await proAbouts(permitted)).includes(`DocumentReference/${plain}`), 'the notice is unmasked with it');
    const [current, masked] = [await app.engine.current('DocumentReference', plain), await app.engine.version('DocumentReference', plain, 2)];
    t.equal(current?.vid, 3);
    await documentAddedNotices(app.repository)([masked!]);
    t.ok((await proAbouts(permitted)).includes(`DocumentReference/${plain}`), 'a late listener of the masking does not mask the notice again');
  });
});
