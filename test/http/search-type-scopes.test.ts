import t from 'tap';
import type { Bundle } from '@medplum/fhirtypes';
import { FHIR_JSON, buildSpace, observation } from '../helpers/people.js';
import { bearer } from '../helpers/tokens.js';

t.test('a search returns only the types the caller\'s scopes grant, whatever its path and _type', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const full = await space.systemAuth();
  const narrow = await bearer(app, space.narrowSystem, 'system/Observation.rs');
  const created = await app.inject({ method: 'POST', url: '/fhir/Observation', headers: { authorization: full, 'content-type': FHIR_JSON }, payload: observation(space.alice, 'vital-signs') });
  t.equal(created.statusCode, 201, created.body.slice(0, 200));
  const patientId = space.alice.split('/')[1]!;
  const get = async (authorization: string, url: string) => app.inject({ url, headers: { authorization } });
  const types = (bundle: Bundle) => [...new Set((bundle.entry ?? []).map((e) => e.resource!.resourceType))].sort();

  t.test('system-level search without _type', async (t) => {
    const byId = await get(narrow, `/fhir?_id=${patientId}`);
    t.equal(byId.statusCode, 200);
    t.same(types(byId.json()), [], 'Patient/alice is not returned to a client that may only read Observations');
    const all = await get(narrow, '/fhir?_count=500');
    t.same(types(all.json()), ['Observation'], 'every entry is an Observation');
    const counted = (await get(narrow, '/fhir?_summary=count')).json() as Bundle;
    const observations = ((await get(narrow, '/fhir/Observation?_summary=count')).json() as Bundle).total;
    t.equal(counted.total, observations, 'the count covers Observations only');
    t.ok(types((await get(full, '/fhir?_count=500')).json()).includes('Patient'), 'a client granted every type still searches them all');
  });

  t.test('a type\'s path with _type naming only other types is a 400, never a search of every type', async (t) => {
    for (const authorization of [narrow, full]) {
      const res = await get(authorization, `/fhir/Observation?_type=Patient&_id=${patientId}`);
      t.equal(res.statusCode, 400, res.body.slice(0, 200));
      t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ expression: ['_type'] }] });
    }
    const counted = await get(full, '/fhir/Patient?_type=Observation&_summary=count');
    t.equal(counted.statusCode, 400, 'not a count of every resource');
    const same = await get(full, '/fhir/Observation?_type=Observation,Patient&_summary=count');
    t.equal(same.statusCode, 200, '_type may name the path\'s type among others');
  });

  t.test('conditional interactions with such a _type do not reach the other type', async (t) => {
    const create = await app.inject({
      method: 'POST', url: '/fhir/Observation', headers: { authorization: full, 'content-type': FHIR_JSON, 'if-none-exist': `_type=Patient&_id=${patientId}` },
      payload: observation(space.alice, 'vital-signs'),
    });
    t.equal(create.statusCode, 400, 'If-None-Exist does not answer with the Patient');
    t.not(create.json().resourceType, 'Patient');
    const update = await app.inject({
      method: 'PUT', url: `/fhir/Observation?_type=Patient&_id=${patientId}`, headers: { authorization: full, 'content-type': FHIR_JSON },
      payload: observation(space.alice, 'vital-signs'),
    });
    t.equal(update.statusCode, 400, 'a conditional update does not take the Patient\'s id');
    t.equal((await get(full, `/fhir/Observation/${patientId}`)).statusCode, 404, 'no Observation was created with it');
  });
});
