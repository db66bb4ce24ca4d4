import t from 'tap';
import type { Bundle } from '@medplum/fhirtypes';
import type { Filter, FindQuery } from '../../src/store/engine.js';
import { APPS, buildSpace, observation, seed, signIn } from '../helpers/people.js';

/**
 * A compartment search over every type by a professional: the policy's filter
 * (their patients) is written once in the query the engine runs, as in a plain
 * search over every type (b53eaff), not once per type. Copied per type, a list
 * of ~2,000 patients made a 14 MB filter, past MongoDB's 16 MiB command limit
 * at about 2,500.
 */
t.test('GET /Patient/[id]/* writes the professional\'s patients once, as a plain search does', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  await seed(space, observation(space.alice, 'vital-signs'));
  const doctor = `Bearer ${(await signIn(app, { clientId: APPS.pro, username: space.users.doctor, scope: 'user/*.cruds openid fhirUser' })).access_token}`;

  // The filters of the engine's finds during one request.
  const engine = app.repository.engine;
  const find = engine.find.bind(engine);
  let filters: Filter[] = [];
  engine.find = (query: FindQuery) => {
    filters.push(query.filter);
    return find(query);
  };
  const largestFilter = async (url: string) => {
    filters = [];
    const res = await app.inject({ url, headers: { authorization: doctor } });
    t.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 200)}`);
    t.ok(((res.json() as Bundle).entry ?? []).length > 0, `${url} finds her resources`);
    return filters.map((f) => JSON.stringify(f)).sort((a, b) => b.length - a.length)[0]!;
  };

  // The minor is the doctor's other patient: named by the policy's filter, not by the compartment.
  const minor = space.minor;
  const plain = await largestFilter('/fhir?_count=50');
  const compartment = await largestFilter(`/fhir/${space.alice}/*?_count=50`);
  const mentions = (text: string) => text.split(`"${minor}"`).length - 1;
  t.ok(mentions(plain) > 0 && mentions(plain) < 20, `a plain search over every type writes the policy's filter once (the other patient named ${mentions(plain)} times)`);
  t.equal(mentions(compartment), mentions(plain), 'a compartment search over every type as many times, not once per type');
  t.ok(compartment.length < plain.length * 1.5, `its filter is about the size of the plain search's (${compartment.length} against ${plain.length} characters)`);
});
