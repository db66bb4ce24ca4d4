import t from 'tap';
import { APPS, buildSpace, observation, seed, signIn } from '../helpers/people.js';

// A 410 tells that a resource existed, when it was deleted and how many versions it had
// (its ETag and Last-Modified): only whoever could read it learns that.
t.test('a deletion is told only to whoever could read what was deleted', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const id = await seed(space, observation(space.alice, 'laboratory'));
  const deleted = await app.inject({ method: 'DELETE', url: `/fhir/Observation/${id}`, headers: { authorization: await space.systemAuth() } });
  t.equal(deleted.statusCode, 200);
  const pro = async (username: string) => `Bearer ${(await signIn(app, { clientId: APPS.pro, username, scope: 'user/*.cruds' })).access_token}`;
  const get = async (authorization: string, url: string) => app.inject({ url, headers: { authorization } });

  const permitted = await pro(space.users.permittedPro);
  for (const url of [`/fhir/Observation/${id}`, `/fhir/Observation/${id}/_history/2`]) {
    const gone = await get(permitted, url);
    t.equal(gone.statusCode, 410, `alice's consented professional: ${url}`);
    t.equal(gone.headers.etag, 'W/"2"');
    t.ok(gone.headers['last-modified']);
  }
  for (const username of [space.users.blockedPro, space.users.otherPro]) {
    const authorization = await pro(username);
    for (const url of [`/fhir/Observation/${id}`, `/fhir/Observation/${id}/_history/2`]) {
      const refused = await get(authorization, url);
      t.equal(refused.statusCode, 403, `${username}: ${url}`);
      t.equal(refused.headers.etag, undefined, 'no version told');
      t.equal(refused.headers['last-modified'], undefined, 'no date told');
      t.equal((await get(authorization, `/fhir/Observation/${id}/_history/1`)).statusCode, 403, 'as the version before it');
    }
  }
  const bob = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.bob, scope: 'launch/patient patient/*.cruds' })).access_token}`;
  t.equal((await get(bob, `/fhir/Observation/${id}`)).statusCode, 403, 'another patient\'s app');
  const alice = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: 'launch/patient patient/*.cruds' })).access_token}`;
  t.equal((await get(alice, `/fhir/Observation/${id}`)).statusCode, 410, 'her own app');
});
