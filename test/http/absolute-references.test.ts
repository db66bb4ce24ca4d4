import t from 'tap';
import type { Bundle } from '@medplum/fhirtypes';
import { APPS, buildSpace, FHIR_JSON, observation, signIn } from '../helpers/people.js';

/**
 * A reference written as an absolute URL on this server's own FHIR base
 * (`http://carnet.test/fhir/Patient/1`) is the same reference as
 * `Patient/1`: searches, _include/_revinclude and the patient compartment
 * (hence the access policy) see it, whether a write worker or the main
 * thread indexed the version.
 */

const BASE = 'http://carnet.test/fhir';

for (const writeWorkers of [0, 1]) {
  t.test(`absolute references to this server (${writeWorkers ? 'with a write worker' : 'main thread only'})`, async (t) => {
    const space = await buildSpace(t, { config: { writeWorkers } });
    if (writeWorkers) {
      await space.app.writeWorkers!.ready();
      t.equal(space.app.writeWorkers!.readyCount, 1, 'new resources are analysed by the worker');
    }
    const system = await space.systemAuth();
    const aliceId = space.alice.slice('Patient/'.length);
    const put = (id: string, resource: Record<string, unknown>) => space.app.inject({
      method: 'PUT', url: `/fhir/Observation/${id}`, headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { ...resource, id },
    });
    const get = async (url: string, authorization = system) => space.app.inject({ url, headers: { authorization } });
    const ids = async (url: string, authorization = system) => {
      const res = await get(url, authorization);
      t.equal(res.statusCode, 200, url);
      return ((res.json() as Bundle).entry ?? []).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`).sort();
    };

    // A new resource (analysed by the worker when there is one)...
    t.equal((await put('absref', observation(`${BASE}/${space.alice}`, 'vital-signs'))).statusCode, 201);
    // ...and a new version of an existing one (always analysed in the main thread).
    t.equal((await put('absref2', observation(space.bob, 'vital-signs'))).statusCode, 201);
    t.equal((await put('absref2', observation(`${BASE}/${space.alice}`, 'laboratory'))).statusCode, 200);
    // A versioned absolute reference is the same target too.
    t.equal((await put('absref3', observation(`${BASE}/${space.alice}/_history/1`, 'vital-signs'))).statusCode, 201);
    const mine = ['Observation/absref', 'Observation/absref2', 'Observation/absref3'];

    t.same(await ids(`/fhir/Observation?subject=${space.alice}`), mine, 'found by subject=Patient/id');
    t.same(await ids(`/fhir/Observation?patient=${aliceId}`), mine, 'found by patient=id');
    t.same(await ids(`/fhir/Observation?subject=${encodeURIComponent(`${BASE}/${space.alice}`)}`), mine, 'found by the absolute form too');
    t.same(await ids(`/fhir/Observation?subject=${space.bob}`), [], 'the old subject of absref2 no longer matches');
    t.same(await ids(`/fhir/Patient?_id=${aliceId}&_revinclude=Observation:subject`), [...mine, space.alice].sort(), '_revinclude');
    t.same(await ids('/fhir/Observation?_id=absref&_include=Observation:subject'), ['Observation/absref', space.alice], '_include');

    // The patient compartment: the holder reads and finds them; another patient does not.
    const alice = await signIn(space.app, { clientId: APPS.holder, username: space.users.alice, scope: 'launch/patient patient/*.cruds' });
    t.equal(alice.patient, aliceId);
    const asAlice = `Bearer ${alice.access_token}`;
    for (const id of mine) t.equal((await get(`/fhir/${id}`, asAlice)).statusCode, 200, `alice reads ${id}`);
    t.same((await ids('/fhir/Observation?_count=100', asAlice)).filter((id) => id.startsWith('Observation/absref')), mine, 'alice finds them');
    const bob = await signIn(space.app, { clientId: APPS.holder, username: space.users.bob, scope: 'launch/patient patient/*.cruds' });
    t.equal((await get('/fhir/Observation/absref', `Bearer ${bob.access_token}`)).statusCode, 403, 'bob does not');
    t.equal((await get('/fhir/Observation/absref2', `Bearer ${bob.access_token}`)).statusCode, 403, 'nor the version that left his compartment');
  });
}

t.test('an absolute reference to another server stays a remote one', async (t) => {
  const space = await buildSpace(t, { config: { writeWorkers: 0 } });
  const system = await space.systemAuth();
  const res = await space.app.inject({
    method: 'PUT', url: '/fhir/Observation/remote', headers: { authorization: system, 'content-type': FHIR_JSON },
    payload: { ...observation(`http://other.example/fhir/${space.alice}`, 'vital-signs'), id: 'remote' },
  });
  t.equal(res.statusCode, 201);
  const found = await space.app.inject({ url: `/fhir/Observation?subject=${space.alice}`, headers: { authorization: system } });
  t.same((found.json() as Bundle).entry ?? [], []);
  const alice = await signIn(space.app, { clientId: APPS.holder, username: space.users.alice, scope: 'launch/patient patient/*.cruds' });
  t.equal((await space.app.inject({ url: '/fhir/Observation/remote', headers: { authorization: `Bearer ${alice.access_token}` } })).statusCode, 403);
});
