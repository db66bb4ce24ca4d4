import t from 'tap';
import type { Bundle } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

/**
 * SMART App Launch 2 puts an instance's history under `r` (with read and
 * vread), and a type's and the whole system's history under `s` (with search):
 * scopes-and-launch-context.html.
 */
t.test('history follows SMART v2: instance under r, type and system under s', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const writer = await auth('system/*.cruds');
  const created = await app.inject({ method: 'POST', url: '/fhir/Observation', headers: { authorization: writer, 'content-type': 'application/fhir+json' },
    payload: { resourceType: 'Observation', status: 'final', code: { text: 'poids' } } });
  const id = (created.json() as { id: string }).id;
  await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { authorization: writer, 'content-type': 'application/fhir+json' }, payload: { resourceType: 'Patient', gender: 'female' } });
  const get = async (url: string, scope: string) => app.inject({ url, headers: { authorization: await auth(scope) } });
  const types = (res: { json: () => unknown }) => ((res.json() as Bundle).entry ?? []).map((e) => e.resource?.resourceType);

  const searchOnly = 'system/Observation.s';
  const typeHistory = await get('/fhir/Observation/_history', searchOnly);
  t.equal(typeHistory.statusCode, 200, `type history with ${searchOnly}`);
  t.same(types(typeHistory), ['Observation']);
  const systemHistory = await get('/fhir/_history', searchOnly);
  t.equal(systemHistory.statusCode, 200, `system history with ${searchOnly}`);
  t.same(types(systemHistory), ['Observation'], 'only the types the scopes allow');
  t.equal((await get(`/fhir/Observation/${id}/_history`, searchOnly)).statusCode, 403, `instance history needs r, not ${searchOnly}`);

  const readOnly = 'system/Observation.r';
  t.equal((await get(`/fhir/Observation/${id}/_history`, readOnly)).statusCode, 200, `instance history with ${readOnly}`);
  t.equal((await get('/fhir/Observation/_history', readOnly)).statusCode, 403, `type history needs s, not ${readOnly}`);
  t.equal((await get('/fhir/_history', readOnly)).statusCode, 403, `system history needs s, not ${readOnly}`);
});
