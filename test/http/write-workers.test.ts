import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { buildTestServer } from '../helpers/server.js';
import { heartRate } from '../fixtures/heart-rate.js';

const FHIR = 'application/fhir+json';
const LOINC = 'http://loinc.org';

/** Counts the analyses the server handed to its worker (rather than doing them itself). */
function countOffloaded(app: FastifyInstance): { count: number } {
  const seen = { count: 0 };
  const workers = app.writeWorkers!;
  const analyse = workers.analyse.bind(workers);
  workers.analyse = (json, mode) => {
    const job = analyse(json, mode);
    if (job) seen.count++;
    return job;
  };
  return seen;
}

t.test('with a write worker, writes answer exactly as without one', async (t) => {
  const now = () => Date.parse('2026-11-23T10:00:00.000Z');
  const withWorker = await buildTestServer(t, { config: { writeWorkers: 1 }, now });
  const alone = await buildTestServer(t, { config: { writeWorkers: 0 }, now });
  await withWorker.app.writeWorkers?.ready();
  t.equal(withWorker.app.writeWorkers?.readyCount, 1, 'the worker becomes ready after the server started');
  t.equal(alone.app.writeWorkers, undefined);
  const offloaded = countOffloaded(withWorker.app);
  const send = async (server: typeof alone, method: 'POST' | 'PUT', url: string, payload: unknown, extra: Record<string, string> = {}) =>
    server.app.inject({ method, url, payload: payload as object, headers: { authorization: await server.auth(), 'content-type': FHIR, ...extra } });

  t.test('a valid create is stored with the index the worker extracted', async (t) => {
    const res = await send(withWorker, 'POST', '/fhir/Observation', heartRate);
    t.equal(res.statusCode, 201);
    const found = await withWorker.app.inject({ url: `/fhir/Observation?patient=p1&code=${encodeURIComponent(`${LOINC}|8867-4`)}&date=2024-03-01`, headers: { authorization: await withWorker.auth() } });
    t.same(found.json().entry.map((e: { resource: { id: string } }) => e.resource.id), [res.json().id], 'found by patient, code and date');
    const alsoAlone = await send(alone, 'POST', '/fhir/Observation', heartRate);
    const strip = (body: { id: string; meta: object }) => ({ ...body, id: undefined, meta: undefined });
    t.same(strip(res.json()), strip(alsoAlone.json()), 'the same stored resource');
  });

  t.test('invalid resources get the same status and OperationOutcome', async (t) => {
    const invalid = [
      { ...heartRate, status: 'unheard-of' },
      { ...heartRate, valueQuantity: { value: 'seventy-two' } },
      { ...heartRate, colour: 'blue', subject: { reference: 42 } },
    ];
    for (const body of invalid) {
      const a = await send(withWorker, 'POST', '/fhir/Observation', body);
      const b = await send(alone, 'POST', '/fhir/Observation', body);
      t.ok(a.statusCode === 400 || a.statusCode === 422, `refused with ${a.statusCode}`);
      t.equal(a.statusCode, b.statusCode);
      t.same(a.json(), b.json());
    }
    const none = await withWorker.app.inject({ url: '/fhir/Observation?code=8867-4&_summary=count', headers: { authorization: await withWorker.auth() } });
    t.equal(none.json().total, 1, 'nothing refused was stored');
  });

  t.test('warnings reach Prefer: return=OperationOutcome the same way', async (t) => {
    const body = { ...heartRate, meta: { profile: ['https://example.org/StructureDefinition/none'] } };
    const a = await send(withWorker, 'POST', '/fhir/Observation', body, { prefer: 'return=OperationOutcome' });
    const b = await send(alone, 'POST', '/fhir/Observation', body, { prefer: 'return=OperationOutcome' });
    t.equal(a.statusCode, 201);
    t.match(a.json().issue, [{ severity: 'warning', code: 'not-supported' }]);
    t.same(a.json(), b.json());
  });

  t.test('update as create and the new entries of a transaction use the worker', async (t) => {
    const before = offloaded.count;
    const put = await send(withWorker, 'PUT', '/fhir/Patient/chosen-id', { resourceType: 'Patient', id: 'chosen-id', name: [{ family: 'Martin' }] });
    t.equal(put.statusCode, 201);
    t.equal(offloaded.count, before + 1);
    const entries = [0, 1, 2].map((i) => ({ fullUrl: `urn:uuid:0000000${i}-0000-4000-8000-000000000000`, resource: { ...heartRate, subject: { reference: 'Patient/chosen-id' }, valueQuantity: { ...heartRate.valueQuantity, value: 60 + i } }, request: { method: 'POST', url: 'Observation' } }));
    const tx = await send(withWorker, 'POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    t.equal(tx.statusCode, 200);
    t.equal(offloaded.count, before + 4, 'each new entry analysed by the worker');
    const found = await withWorker.app.inject({ url: '/fhir/Observation?subject=Patient/chosen-id&value-quantity=61', headers: { authorization: await withWorker.auth() } });
    t.equal(found.json().entry.length, 1, 'indexed, searchable at once');
    // Two invalid entries, analysed together: the first in the Bundle is the one reported, as without a worker.
    const invalidTwice = { resourceType: 'Bundle', type: 'transaction', entry: [entries[0], { ...entries[1], resource: { ...entries[1]!.resource, status: 'unheard-of' } }, { ...entries[2], resource: { ...entries[2]!.resource, valueQuantity: { value: 'seventy-two' } } }] };
    await send(alone, 'PUT', '/fhir/Patient/chosen-id', { resourceType: 'Patient', id: 'chosen-id', name: [{ family: 'Martin' }] });
    const failing = await send(withWorker, 'POST', '/fhir', invalidTwice);
    const failingAlone = await send(alone, 'POST', '/fhir', invalidTwice);
    t.ok(failing.statusCode === 400 || failing.statusCode === 422, `an invalid entry fails the transaction (${failing.statusCode})`);
    t.match(failing.json().issue[0].expression[0], /^Bundle\.entry\[1\]/, 'the first invalid entry is named');
    t.same(failing.json(), failingAlone.json(), 'the same outcome as without a worker');
    const count = await withWorker.app.inject({ url: '/fhir/Observation?subject=Patient/chosen-id&_summary=count', headers: { authorization: await withWorker.auth() } });
    t.equal(count.json().total, 3, 'and leaves no trace');
  });

  t.test('a new version of an existing resource is analysed in the main thread', async (t) => {
    const before = offloaded.count;
    const put = await send(withWorker, 'PUT', '/fhir/Patient/chosen-id', { resourceType: 'Patient', id: 'chosen-id', name: [{ family: 'Martin-Durand' }] });
    t.equal(put.statusCode, 200);
    t.equal(offloaded.count, before, 'kept short between reading the current version and committing');
  });

  t.test('the creates above went to the worker', async (t) => {
    t.ok(offloaded.count >= 6, `${offloaded.count} analyses`);
  });
});

t.test('an update of a large resource is analysed on the worker too; a small one in the main thread', async (t) => {
  const server = await buildTestServer(t, { config: { writeWorkers: 1 } });
  await server.app.writeWorkers?.ready();
  const offloaded = countOffloaded(server.app);
  const authorization = await server.auth();
  const put = (given: string[], gender: string) => server.app.inject({ method: 'PUT', url: '/fhir/Patient/large1', headers: { authorization, 'content-type': FHIR },
    payload: { resourceType: 'Patient', id: 'large1', gender, name: [{ family: 'Large', given }] } });
  // About 250 KB: every given name repeated, which the index keeps once.
  const many = Array.from({ length: 50_000 }, () => 'ab');
  t.equal((await put(many, 'female')).statusCode, 201);
  t.equal(offloaded.count, 1, 'the create went to the worker');
  const updated = await put([...many, 'cd'], 'male');
  t.equal(updated.statusCode, 200);
  t.equal(offloaded.count, 2, 'so did the large update');
  const found = await server.app.inject({ url: '/fhir/Patient?given=cd&gender=male&_elements=gender', headers: { authorization } });
  t.same(found.json().entry.map((e: { resource: { id: string } }) => e.resource.id), ['large1'], 'indexed from the worker\'s analysis');
  const small = await server.app.inject({ method: 'PUT', url: '/fhir/Patient/small1', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Patient', id: 'small1', gender: 'female' } });
  t.equal(small.statusCode, 201);
  const count = offloaded.count;
  await server.app.inject({ method: 'PUT', url: '/fhir/Patient/small1', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Patient', id: 'small1', gender: 'male' } });
  t.equal(offloaded.count, count, 'a small update stays in the main thread');
});
