import t from 'tap';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

/**
 * An update that changes nothing writes no version, as HAPI FHIR and Medplum
 * do: the answer is the current version (200, its ETag), and the history
 * stays as it was. It is still judged as an update.
 */
t.test('an update identical to the current version writes no new version', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': 'application/fhir+json' };
  const patient = { resourceType: 'Patient', id: 'same1', gender: 'female', name: [{ family: 'Martin', given: ['Léa'] }] };
  const put = (body: unknown, extra: Record<string, string> = {}) => app.inject({ method: 'PUT', url: '/fhir/Patient/same1', headers: { ...headers, ...extra }, payload: body as object });
  const versions = async () => ((await app.inject({ url: '/fhir/Patient/same1/_history', headers: { authorization } })).json() as Bundle).entry?.length;

  t.equal((await put(patient)).statusCode, 201);
  const again = await put(patient);
  t.equal(again.statusCode, 200, 'the same body again: 200');
  t.equal(again.headers.etag, 'W/"1"', 'the current version is answered');
  t.equal((again.json() as Patient).meta?.versionId, '1');
  t.equal(await versions(), 1, 'no second version in the history');

  const read = (await app.inject({ url: '/fhir/Patient/same1', headers: { authorization } })).json() as Patient;
  const sentBack = await put(read, { 'if-match': 'W/"1"' });
  t.equal(sentBack.headers.etag, 'W/"1"', 'a read sent back as it came (meta included) changes nothing');
  t.equal(await versions(), 1);

  const patched = await app.inject({ method: 'PATCH', url: '/fhir/Patient/same1', headers: { authorization, 'content-type': 'application/json-patch+json' },
    payload: JSON.stringify([{ op: 'test', path: '/gender', value: 'female' }]) });
  t.equal(patched.statusCode, 200);
  t.equal(patched.headers.etag, 'W/"1"', 'a PATCH that changes nothing neither');

  const changed = await put({ ...patient, gender: 'other' });
  t.equal(changed.headers.etag, 'W/"2"', 'a real change is a new version');
  t.equal(await versions(), 2);

  const readOnly = await auth('system/Patient.rs');
  const refused = await app.inject({ method: 'PUT', url: '/fhir/Patient/same1', headers: { authorization: readOnly, 'content-type': 'application/fhir+json' }, payload: { ...patient, gender: 'other' } });
  t.equal(refused.statusCode, 403, 'an unchanged update by a client that may not update is still refused');
});
