import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// Found by an exploratory tester: with `Prefer: return=OperationOutcome`, a conditional create that
// matched an existing resource answered "Updated", though nothing was written.
t.test('Prefer: return=OperationOutcome says what the write did', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': 'application/fhir+json', prefer: 'return=OperationOutcome' };
  const patient = { resourceType: 'Patient', identifier: [{ system: 'urn:test', value: 'o1' }] };
  const diagnostics = async (res: Awaited<ReturnType<typeof app.inject>>) => (res.json().issue as Array<{ diagnostics?: string }>)[0]?.diagnostics;

  const created = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { ...headers, 'if-none-exist': 'identifier=urn:test|o1' }, payload: patient });
  t.equal(created.statusCode, 201);
  const id = created.json().issue && created.headers.location!.split('/')[5];
  t.match(await diagnostics(created), new RegExp(`^Created Patient/${id}$`));
  const matched = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { ...headers, 'if-none-exist': 'identifier=urn:test|o1' }, payload: patient });
  t.equal(matched.statusCode, 200);
  t.match(await diagnostics(matched), /matched the condition: nothing was written/);
  const unchanged = await app.inject({ method: 'PUT', url: `/fhir/Patient/${id}`, headers, payload: { ...patient, id } });
  t.match(await diagnostics(unchanged), /is unchanged: no version was written/);
  const updated = await app.inject({ method: 'PUT', url: `/fhir/Patient/${id}`, headers, payload: { ...patient, id, active: true } });
  t.match(await diagnostics(updated), new RegExp(`^Updated Patient/${id}$`));
  t.equal(updated.headers.etag, 'W/"2"', 'one version was written in all');
});
