import t from 'tap';
import type { Bundle, CapabilityStatement } from '@medplum/fhirtypes';
import { APPS, FHIR_JSON, buildSpace, observation, signIn } from '../helpers/people.js';

t.test('Patient compartment search: GET [base]/Patient/[id]/[type] and /*', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const post = async (resource: Record<string, unknown>) => {
    const res = await app.inject({ method: 'POST', url: '/fhir/Observation', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: resource });
    t.equal(res.statusCode, 201, res.body.slice(0, 200));
    return res.json().id as string;
  };
  const aliceVital = await post(observation(space.alice, 'vital-signs'));
  const aliceLab = await post(observation(space.alice, 'laboratory'));
  const bobVital = await post(observation(space.bob, 'vital-signs'));
  const [alice, bob] = [space.alice.split('/')[1]!, space.bob.split('/')[1]!];
  const get = async (authorization: string, url: string) => {
    const res = await app.inject({ url, headers: { authorization } });
    t.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 200)}`);
    return res.json() as Bundle;
  };
  const ids = (bundle: Bundle) => (bundle.entry ?? []).map((e) => e.resource!.id).sort();

  t.same(ids(await get(system, `/fhir/Patient/${alice}/Observation`)), [aliceVital, aliceLab].sort(), 'her Observations, not another patient\'s');
  t.same(ids(await get(system, `/fhir/Patient/${alice}/Observation?category=laboratory`)), [aliceLab], 'with the search\'s own parameters');
  const everything = await get(system, `/fhir/Patient/${alice}/*?_count=200`);
  t.ok(ids(everything).includes(aliceVital) && !ids(everything).includes(bobVital), '* gives every type of her compartment');
  const paged = await get(system, `/fhir/Patient/${alice}/Observation?_count=1`);
  t.match(paged.link!.find((l) => l.relation === 'next')!.url, new RegExp(`/fhir/Patient/${alice}/Observation\\?`), 'paging stays in the compartment');

  t.test('the access policy applies as to any search', async (t) => {
    const aliceApp = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: 'launch/patient patient/*.cruds' })).access_token}`;
    t.same(ids(await get(aliceApp, `/fhir/Patient/${alice}/Observation`)), [aliceVital, aliceLab].sort(), 'the holder reads her compartment');
    t.same(ids(await get(aliceApp, `/fhir/Patient/${bob}/Observation`)), [], 'another patient\'s compartment shows her nothing');
  });

  t.test('bad paths', async (t) => {
    t.equal((await app.inject({ url: `/fhir/Patient/${alice}/Nonsense`, headers: { authorization: system } })).statusCode, 404);
    t.equal((await app.inject({ url: '/fhir/Patient/bad%20id/Observation', headers: { authorization: system } })).statusCode, 400);
    const other = await app.inject({ url: '/fhir/Encounter/e1/Observation', headers: { authorization: system } });
    t.equal(other.statusCode, 404, 'only the Patient compartment is offered');
    t.match(other.json().issue[0].diagnostics, /Patient only/);
    t.equal((await app.inject({ url: `/fhir/Patient/${alice}/_history`, headers: { authorization: system } })).statusCode, 200, 'a history path is still a history');
  });

  t.test('the CapabilityStatement says so', async (t) => {
    const capability = (await app.inject('/fhir/metadata')).json() as CapabilityStatement;
    t.same(capability.rest![0]!.compartment, ['http://hl7.org/fhir/CompartmentDefinition/patient']);
  });
});
