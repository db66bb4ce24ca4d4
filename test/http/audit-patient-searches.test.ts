import t from 'tap';
import { APPS, buildSpace, observation, seed, signIn } from '../helpers/people.js';

// "Who looked at my space": a search made for a patient is an access to their space even when it returns no resource.
t.test('searches made for a patient are in that patient\'s trail, counts and empty answers included', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  await seed(space, observation(space.alice, 'vital-signs'));
  const alice = await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: 'patient/*.rs launch/patient' });
  const searches = {
    'count-1': '/fhir/Observation?_summary=count',
    'empty-1': '/fhir/Observation?code=http://loinc.org|0000-0',
    'total-1': '/fhir/Observation?_count=0&_total=accurate',
  };
  for (const [requestId, url] of Object.entries(searches)) {
    const res = await app.inject({ url, headers: { authorization: `Bearer ${alice.access_token}`, 'x-request-id': requestId } });
    t.equal(res.statusCode, 200, url);
  }
  const system = { authorization: await space.systemAuth() };
  for (const requestId of Object.keys(searches)) {
    const trail = (await app.inject({ url: `/fhir/AuditEvent?site=${requestId}&patient=${space.alice}`, headers: system })).json();
    t.equal(trail.entry?.length, 1, `${requestId}: one AuditEvent in the holder's trail`);
    t.equal(trail.entry?.[0]?.resource.subtype[0].code, 'search-type');
  }
});
