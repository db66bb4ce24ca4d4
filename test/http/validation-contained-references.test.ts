import t from 'tap';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

// A contained reference (#id) is held to the resource types its element allows, as a
// literal one is; in a transaction, an entry's contained resources are its own.
const FHIR = 'application/fhir+json';
const observation = (extra: Record<string, unknown>) => ({ resourceType: 'Observation', status: 'final', code: { text: 'tension' }, ...extra });

t.test('contained references over REST', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const headers = { authorization: await auth('system/*.cruds'), 'content-type': FHIR };
  const count = async () => ((await app.inject({ url: '/fhir?_summary=count', headers })).json() as Bundle).total;

  t.test('a contained Medication as an Observation\'s subject: 422, nothing stored', async (t) => {
    const before = await count();
    const res = await app.inject({ method: 'POST', url: '/fhir/Observation', headers,
      payload: JSON.stringify(observation({ subject: { reference: '#m' }, contained: [{ resourceType: 'Medication', id: 'm', code: { text: 'paracétamol' } }] })) });
    t.equal(res.statusCode, 422);
    t.match(res.json(), { resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', expression: ['Observation.subject'], diagnostics: /refers to the contained Medication #m; expected one of Device, Group, Location, Patient/ }] });
    t.equal(await count(), before);
  });

  t.test('a transaction whose entry has a contained subject is committed, its reference kept', async (t) => {
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{
      fullUrl: 'urn:uuid:5b7e2c1a-8f0d-4f3e-9a51-2d6c4b8e7f10',
      resource: observation({ subject: { reference: '#p' }, contained: [{ resourceType: 'Patient', id: 'p', name: [{ family: 'Martin' }] }] }),
      request: { method: 'POST', url: 'Observation' },
    }] };
    const res = await app.inject({ method: 'POST', url: '/fhir', headers, payload: JSON.stringify(bundle) });
    t.equal(res.statusCode, 200, res.body.slice(0, 400));
    const location = (res.json() as Bundle).entry?.[0]?.response?.location ?? '';
    const stored = (await app.inject({ url: `/fhir/${location.replace(/\/_history\/.*$/, '')}`, headers })).json() as Observation;
    t.equal(stored.subject?.reference, '#p');
    t.equal(stored.contained?.[0]?.resourceType, 'Patient');
  });

  t.test('a stored collection Bundle whose entry has a contained subject is accepted (ref-1 looks in the entry, not the Bundle)', async (t) => {
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{
      fullUrl: 'urn:uuid:5b7e2c1a-8f0d-4f3e-9a51-2d6c4b8e7f13',
      resource: observation({ subject: { reference: '#p' }, contained: [{ resourceType: 'Patient', id: 'p', name: [{ family: 'Martin' }] }] }),
    }] };
    const res = await app.inject({ method: 'POST', url: '/fhir/Bundle', headers, payload: JSON.stringify(bundle) });
    t.equal(res.statusCode, 201, res.body.slice(0, 400));
  });

  t.test('a transaction whose entry names a contained Medication as subject fails whole', async (t) => {
    const before = await count();
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: 'urn:uuid:5b7e2c1a-8f0d-4f3e-9a51-2d6c4b8e7f11', resource: { resourceType: 'Patient', name: [{ family: 'Martin' }] }, request: { method: 'POST', url: 'Patient' } },
      { fullUrl: 'urn:uuid:5b7e2c1a-8f0d-4f3e-9a51-2d6c4b8e7f12', resource: observation({ subject: { reference: '#m' }, contained: [{ resourceType: 'Medication', id: 'm' }] }), request: { method: 'POST', url: 'Observation' } },
    ] };
    const res = await app.inject({ method: 'POST', url: '/fhir', headers, payload: JSON.stringify(bundle) });
    t.ok(res.statusCode === 400 || res.statusCode === 422, `refused (${res.statusCode})`);
    t.match(JSON.stringify(res.json()), /contained Medication #m/);
    t.equal(await count(), before, 'neither entry stored (the Patient neither)');
  });
});
