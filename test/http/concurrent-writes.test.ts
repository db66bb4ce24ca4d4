import t from 'tap';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

const FHIR = 'application/fhir+json';
const N = 20;

t.test('writes to one resource arriving together', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const put = (id: string, body: Record<string, unknown>, ifMatch?: string) => app.inject({
    method: 'PUT', url: `/fhir/Patient/${id}`, payload: { resourceType: 'Patient', id, ...body },
    headers: { authorization, 'content-type': FHIR, ...(ifMatch ? { 'if-match': ifMatch } : {}) },
  });
  const statuses = (responses: Array<{ statusCode: number }>) => {
    const counts: Record<number, number> = {};
    for (const r of responses) counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
    return counts;
  };
  const history = async (id: string) => ((await app.inject({ url: `/fhir/Patient/${id}/_history?_count=100`, headers: { authorization } })).json() as Bundle).entry!;

  t.test('PUT without If-Match: every one lands, one version each', async (t) => {
    t.equal((await put('race-put', { gender: 'other' })).statusCode, 201);
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => put('race-put', { name: [{ family: `F${i}` }] })));
    t.same(statuses(responses), { 200: N }, 'no 409: the client asked for no version check');
    const versions = (await history('race-put')).map((e) => Number(e.resource!.meta!.versionId)).sort((a, b) => a - b);
    t.same(versions, Array.from({ length: N + 1 }, (_, i) => i + 1), 'versions 1..N+1, no gap, no duplicate');
  });

  t.test('PUT creating a new id: one creates, the others update it', async (t) => {
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => put('race-new', { name: [{ family: `N${i}` }] })));
    t.same(statuses(responses), { 201: 1, 200: N - 1 });
  });

  t.test('PATCH without If-Match: no update is lost', async (t) => {
    t.equal((await put('race-patch', { active: true, name: [{ family: 'Start' }] })).statusCode, 201);
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => app.inject({
      method: 'PATCH', url: '/fhir/Patient/race-patch', headers: { authorization, 'content-type': 'application/json-patch+json' },
      payload: JSON.stringify([{ op: 'add', path: '/name/-', value: { family: `P${i}` } }]),
    })));
    t.same(statuses(responses), { 200: N }, 'each patch applies');
    const stored = (await app.inject({ url: '/fhir/Patient/race-patch', headers: { authorization } })).json() as Patient;
    t.equal(stored.name?.length, N + 1, 'each patch applied to the version the one before it wrote');
  });

  t.test('DELETE: deleting is idempotent, together as one after the other', async (t) => {
    t.equal((await put('race-delete', {})).statusCode, 201);
    const responses = await Promise.all(Array.from({ length: N }, () => app.inject({ method: 'DELETE', url: '/fhir/Patient/race-delete', headers: { authorization } })));
    t.same(statuses(responses), { 200: N });
    t.equal((await app.inject({ url: '/fhir/Patient/race-delete', headers: { authorization } })).statusCode, 410);
  });

  t.test('batch entries take their turn with direct writes to the same resource', async (t) => {
    t.equal((await put('race-batch', { active: true, name: [{ family: 'Start' }] })).statusCode, 201);
    const patch = (family: string) => [{ op: 'add', path: '/name/-', value: { family } }];
    const viaBatch = (i: number) => app.inject({
      method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR },
      payload: { resourceType: 'Bundle', type: 'batch', entry: [{
        request: { method: 'PATCH', url: 'Patient/race-batch' },
        resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(patch(`B${i}`))).toString('base64') },
      }] },
    });
    const direct = (i: number) => app.inject({
      method: 'PATCH', url: '/fhir/Patient/race-batch', headers: { authorization, 'content-type': 'application/json-patch+json' }, payload: JSON.stringify(patch(`D${i}`)),
    });
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => (i % 2 ? viaBatch(i) : direct(i))));
    const entryStatuses = responses.map((r) => (r.json().resourceType === 'Bundle' ? r.json().entry[0].response.status : String(r.statusCode)));
    t.ok(entryStatuses.every((s) => s.startsWith('200')), `every patch applied: ${entryStatuses.join(' ')}`);
    const stored = (await app.inject({ url: '/fhir/Patient/race-batch', headers: { authorization } })).json() as Patient;
    t.equal(stored.name?.length, N + 1, 'none lost');
  });

  t.test('PUT with the same If-Match: one wins, the others get 412 (never 409)', async (t) => {
    t.equal((await put('race-if-match', {})).statusCode, 201);
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => put('race-if-match', { name: [{ family: `M${i}` }] }, 'W/"1"')));
    t.same(statuses(responses), { 200: 1, 412: N - 1 });
    const outcome = responses.find((r) => r.statusCode === 412)!.json();
    t.equal(outcome.resourceType, 'OperationOutcome');
  });

  t.test('a conditional update racing direct writes to its match: every one lands (no 409)', async (t) => {
    const identifier = { system: 'urn:race', value: 'conditional' };
    t.equal((await put('race-conditional', { identifier: [identifier] })).statusCode, 201);
    const conditional = (i: number) => app.inject({
      method: 'PUT', url: '/fhir/Patient?identifier=urn:race|conditional', headers: { authorization, 'content-type': FHIR },
      payload: { resourceType: 'Patient', identifier: [identifier], name: [{ family: `C${i}` }] },
    });
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => (i % 2 ? conditional(i) : put('race-conditional', { identifier: [identifier], name: [{ family: `D${i}` }] }))));
    t.same(statuses(responses), { 200: N }, 'the client asked for no version check');
    t.equal((await history('race-conditional')).length, N + 1, 'one version each');
  });

  t.test('a conditional delete racing direct writes to its match: deleted, never a 409', async (t) => {
    const identifier = { system: 'urn:race', value: 'conditional-delete' };
    t.equal((await put('race-cdelete', { identifier: [identifier] })).statusCode, 201);
    const writes = Array.from({ length: N - 1 }, (_, i) => put('race-cdelete', { identifier: [identifier], name: [{ family: `W${i}` }] }));
    const deletion = app.inject({ method: 'DELETE', url: '/fhir/Patient?identifier=urn:race|conditional-delete', headers: { authorization } });
    const [deleted, ...written] = await Promise.all([deletion, ...writes]);
    t.equal(deleted.statusCode, 200, deleted.body.slice(0, 200));
    t.ok(written.every((r) => r.statusCode === 200 || r.statusCode === 201), 'the direct writes land before or after it');
  });
});
