import { readdir } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

const FHIR = 'application/fhir+json';

t.test('transaction and batch Bundles', async (t) => {
  const { app, auth, dataDir } = await buildTestServer(t, { config: { bundleMaxEntries: 600 } });
  const authorization = await auth();
  const post = (payload: unknown, extra: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR, ...extra }, payload: payload as object });
  const count = async (type: string) => {
    const res = await app.inject({ url: `/fhir/${type}/_history?_count=1000`, headers: { authorization } });
    return res.statusCode === 200 ? (res.json().entry ?? []).length : -1;
  };

  t.test('a transaction rewrites urn:uuid references and answers in request order', async (t) => {
    const res = await post({
      resourceType: 'Bundle', type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:0c4c6b3e-0001-4e6b-9f7e-000000000001', resource: { resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject: { reference: 'urn:uuid:0c4c6b3e-0001-4e6b-9f7e-000000000002' } }, request: { method: 'POST', url: 'Observation' } },
        { fullUrl: 'urn:uuid:0c4c6b3e-0001-4e6b-9f7e-000000000002', resource: { resourceType: 'Patient', name: [{ family: 'Bernard' }] }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', id: 'tx-put', name: [{ family: 'Petit' }] }, request: { method: 'PUT', url: 'Patient/tx-put' } },
      ],
    });
    t.equal(res.statusCode, 200);
    const bundle = res.json();
    t.equal(bundle.type, 'transaction-response');
    t.equal(bundle.entry.length, 3);
    t.match(bundle.entry[0].response, { status: '201 Created', location: /^Observation\/[^/]+\/_history\/1$/ });
    t.match(bundle.entry[1].response, { status: '201 Created', location: /^Patient\// });
    t.match(bundle.entry[2].response, { status: '201 Created', location: 'Patient/tx-put/_history/1' });
    const patientId = bundle.entry[1].response.location.split('/')[1];
    const obsId = bundle.entry[0].response.location.split('/')[1];
    const obs = await app.inject({ url: `/fhir/Observation/${obsId}`, headers: { authorization } });
    t.equal(obs.json().subject.reference, `Patient/${patientId}`, 'reference rewritten to the new id');
  });

  t.test('a failing transaction names the entry and leaves nothing behind', async (t) => {
    const before = await count('Patient');
    const res = await post({
      resourceType: 'Bundle', type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:aa', resource: { resourceType: 'Patient', name: [{ family: 'Ghost' }] }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', id: 'ghost-2' }, request: { method: 'PUT', url: 'Patient/ghost-2' } },
        { resource: { resourceType: 'Patient', gender: 12 }, request: { method: 'POST', url: 'Patient' } },
      ],
    });
    t.ok(res.statusCode === 400 || res.statusCode === 422, `4xx (${res.statusCode})`);
    const outcome = res.json();
    t.equal(outcome.resourceType, 'OperationOutcome');
    t.match(JSON.stringify(outcome), /Bundle\.entry\[2\]/, 'the failing entry is named');
    t.equal(await count('Patient'), before, 'no Patient of the Bundle was stored');
    t.equal((await app.inject({ url: '/fhir/Patient/ghost-2', headers: { authorization } })).statusCode, 404);
  });

  t.test('a reference in a Bundle must resolve to an entry or a stored resource', async (t) => {
    const before = await count('Observation');
    for (const reference of ['urn:uuid:5e4a0c43-6f0e-4b7e-9d57-000000000099', 'Patient/nobody-here']) {
      const res = await post({
        resourceType: 'Bundle', type: 'transaction',
        entry: [{ resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference } }, request: { method: 'POST', url: 'Observation' } }],
      });
      t.equal(res.statusCode, 422, reference);
      t.match(JSON.stringify(res.json()), /Bundle\.entry\[0\]/);
    }
    const batch = await post({
      resourceType: 'Bundle', type: 'batch',
      entry: [{ resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/nobody-here' } }, request: { method: 'POST', url: 'Observation' } }],
    });
    t.equal(batch.json().entry[0].response.status, '422');
    t.equal(await count('Observation'), before, 'nothing stored');
  });

  t.test('a version conflict inside a transaction fails it whole', async (t) => {
    await app.inject({ method: 'PUT', url: '/fhir/Patient/vc', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Patient', id: 'vc' } });
    const res = await post({
      resourceType: 'Bundle', type: 'transaction',
      entry: [
        { resource: { resourceType: 'Patient', id: 'vc-new' }, request: { method: 'PUT', url: 'Patient/vc-new' } },
        { resource: { resourceType: 'Patient', id: 'vc', gender: 'male' }, request: { method: 'PUT', url: 'Patient/vc', ifMatch: 'W/"5"' } },
      ],
    });
    t.equal(res.statusCode, 412);
    t.equal((await app.inject({ url: '/fhir/Patient/vc-new', headers: { authorization } })).statusCode, 404);
  });

  t.test('a batch processes each entry on its own', async (t) => {
    const res = await post({
      resourceType: 'Bundle', type: 'batch',
      entry: [
        { resource: { resourceType: 'Patient', name: [{ family: 'Ok' }] }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', gender: 12 }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/tx-put' } },
        { request: { method: 'GET', url: 'Patient/does-not-exist' } },
      ],
    });
    t.equal(res.statusCode, 200);
    const bundle = res.json();
    t.equal(bundle.type, 'batch-response');
    t.match(bundle.entry[0].response.status, /^201/);
    t.match(bundle.entry[1].response.status, /^4/);
    t.equal(bundle.entry[1].response.outcome.resourceType, 'OperationOutcome');
    t.equal(bundle.entry[2].response.status, '200');
    t.equal(bundle.entry[2].resource.id, 'tx-put');
    t.equal(bundle.entry[3].response.status, '404');
  });

  t.test('a transaction of several hundred entries', async (t) => {
    const entry = Array.from({ length: 400 }, (_, i) => ({
      fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resource: { resourceType: 'Observation', status: 'final', code: { text: `bulk ${i}` } },
      request: { method: 'POST', url: 'Observation' },
    }));
    const res = await post({ resourceType: 'Bundle', type: 'transaction', entry });
    t.equal(res.statusCode, 200);
    t.equal(res.json().entry.length, 400);
  });

  t.test('limits: too many entries is 413; not a Bundle is 400', async (t) => {
    const entry = Array.from({ length: 601 }, () => ({ request: { method: 'GET', url: 'Patient/x' } }));
    t.equal((await post({ resourceType: 'Bundle', type: 'batch', entry })).statusCode, 413);
    t.equal((await post({ resourceType: 'Patient' })).statusCode, 400);
    t.equal((await post({ resourceType: 'Bundle', type: 'collection' })).statusCode, 400);
  });

  t.test('JSON Patch inside a transaction', async (t) => {
    const patch = Buffer.from(JSON.stringify([{ op: 'add', path: '/gender', value: 'female' }])).toString('base64');
    const res = await post({
      resourceType: 'Bundle', type: 'transaction',
      entry: [{ resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: patch }, request: { method: 'PATCH', url: 'Patient/tx-put' } }],
    });
    t.equal(res.statusCode, 200);
    const read = await app.inject({ url: '/fhir/Patient/tx-put', headers: { authorization } });
    t.equal(read.json().gender, 'female');
    t.equal(read.json().meta.versionId, '2');
  });

  t.test('conditional references resolve by search to exactly one match', async (t) => {
    const patient = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '2850412345678' }] } });
    const observation = (subject: string) => ({ resource: { resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject: { reference: subject }, performer: [{ reference: subject }] }, request: { method: 'POST', url: 'Observation' } });
    const found = await post({ resourceType: 'Bundle', type: 'transaction', entry: [observation('Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|2850412345678')] });
    t.equal(found.statusCode, 200);
    const stored = await app.inject({ url: `/fhir/${found.json().entry[0].response.location.replace(/\/_history\/.*$/, '')}`, headers: { authorization } });
    t.same([stored.json().subject, stored.json().performer], [{ reference: `Patient/${patient.json().id}` }, [{ reference: `Patient/${patient.json().id}` }]], 'every occurrence rewritten to the match');
    const before = await count('Observation');
    const none = await post({ resourceType: 'Bundle', type: 'transaction', entry: [observation('Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|2850412345678'), observation('Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|nobody')] });
    t.equal(none.statusCode, 412, 'no match: 412');
    t.match(none.json().issue[0], { expression: ['Bundle.entry[1]'], diagnostics: /matched 0 resources/ });
    t.equal(await count('Observation'), before, 'and nothing written');
  });

  t.test('a failing transaction: the first invalid entry is named, and no bytes of its Binaries are kept', async (t) => {
    const blobFiles = async () => (await readdir(path.join(dataDir, 'blobs')).catch(() => [] as string[])).length;
    const before = { files: await blobFiles(), binaries: await count('Binary'), observations: await count('Observation') };
    const binary = (i: number) => ({ resource: { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from(`report ${i}`).toString('base64') }, request: { method: 'POST', url: 'Binary' } });
    const observation = (extra: object) => ({ resource: { resourceType: 'Observation', status: 'final', code: { text: 'poids' }, ...extra }, request: { method: 'POST', url: 'Observation' } });
    const res = await post({
      resourceType: 'Bundle', type: 'transaction',
      entry: [binary(1), observation({}), observation({ status: 'unheard-of' }), binary(2), observation({ valueQuantity: { value: 'heavy' } })],
    });
    t.ok(res.statusCode === 400 || res.statusCode === 422, `refused (${res.statusCode})`);
    t.match(res.json().issue[0].expression[0], /^Bundle\.entry\[2\]/, 'the first invalid entry is the one reported');
    t.same({ files: await blobFiles(), binaries: await count('Binary'), observations: await count('Observation') }, before, 'no blob file, no version written');
  });
});

t.test('concurrent conditional creates, in transactions, batches and plain requests, create once', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const patient = { resourceType: 'Patient', identifier: [{ system: 'urn:carnet:test:race', value: 'r1' }] };
  const ifNoneExist = 'identifier=urn:carnet:test:race|r1';
  const entry = { resource: patient, request: { method: 'POST', url: 'Patient', ifNoneExist } };
  const bundle = (type: 'transaction' | 'batch') => app.inject({ method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Bundle', type, entry: [entry] } });
  const plain = () => app.inject({ method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': FHIR, 'if-none-exist': ifNoneExist }, payload: patient });
  const answers = await Promise.all([
    ...Array.from({ length: 6 }, () => bundle('transaction')),
    ...Array.from({ length: 3 }, () => bundle('batch')),
    plain(), plain(),
  ]);
  const ids = answers.map((res) => {
    t.ok(res.statusCode === 200 || res.statusCode === 201, `answered ${res.statusCode}`);
    const location = res.headers.location ?? res.json().entry?.[0]?.response?.location;
    return String(location).replace(/^.*Patient\//, '').split('/')[0];
  });
  const found = await app.inject({ url: `/fhir/Patient?${ifNoneExist}`, headers: { authorization } });
  t.equal(found.json().entry?.length, 1, 'one Patient with the identifier');
  t.same(new Set(ids), new Set([found.json().entry[0].resource.id]), 'every answer names it');
});
