import t from 'tap';
import { APPS, buildSpace, document, seed, signIn } from '../helpers/people.js';

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
});
