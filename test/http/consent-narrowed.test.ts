import t from 'tap';
import { APPS, buildSpace, observation, privacyConsent, seed, signIn } from '../helpers/people.js';

// carnet's policy grants a professional a whole space or nothing: a permit for some data only must not open the rest.
t.test('a permit Consent narrowed to some data does not open the whole space', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const weight = await seed(space, observation(space.alice, 'vital-signs'));
  const lab = await seed(space, observation(space.alice, 'laboratory'));
  const narrowed = privacyConsent(space.alice, 'permit', { actor: space.otherPro }) as { provision: Record<string, unknown> };
  narrowed.provision.data = [{ meaning: 'instance', reference: { reference: `Observation/${weight}` } }];
  await seed(space, narrowed);
  const pro = await signIn(app, { clientId: APPS.pro, username: space.users.otherPro, scope: 'user/*.rs' });
  const read = (id: string) => app.inject({ url: `/fhir/Observation/${id}`, headers: { authorization: `Bearer ${pro.access_token}` } });
  t.equal((await read(lab)).statusCode, 403, 'the data the permit does not name stays closed');
  t.equal((await read(weight)).statusCode, 403, 'and, since only whole spaces are granted, the named data too');
  const search = await app.inject({ url: `/fhir/Observation?patient=${space.alice}&_summary=count`, headers: { authorization: `Bearer ${pro.access_token}` } });
  t.equal(search.json().total ?? 0, 0, 'nothing found by search either');
  const whole = privacyConsent(space.alice, 'permit', { actor: space.otherPro });
  await seed(space, whole);
  t.equal((await read(lab)).statusCode, 200, 'a permit for the whole space opens it');
});
