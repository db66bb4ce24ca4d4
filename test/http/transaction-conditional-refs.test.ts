import t from 'tap';
import type { Test } from 'tap';
import type { Bundle, BundleEntry, Observation, Patient } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

const FHIR = 'application/fhir+json';
const INS = 'urn:oid:1.2.250.1.213.1.4.8';

type Entry = Record<string, unknown>;

/** The integrator's pattern: a Patient created unless its INS-NIR is known, and what is recorded for it. */
const createPatient = (value: string, extra: Partial<Patient> = {}, ifNoneExist = `identifier=${INS}|${value}`): Entry => ({
  request: { method: 'POST', url: 'Patient', ifNoneExist },
  resource: { resourceType: 'Patient', identifier: [{ system: INS, value }], name: [{ family: 'Durand' }], gender: 'female', ...extra },
});
const observation = (subject: string, text = 'poids'): Entry => ({
  request: { method: 'POST', url: 'Observation' },
  resource: { resourceType: 'Observation', status: 'final', code: { text }, subject: { reference: subject } },
});

async function setUp(t: Test) {
  const server = await buildTestServer(t);
  const authorization = await server.auth();
  const { app } = server;
  const transaction = async (entry: Entry[], as = authorization) => {
    const res = await app.inject({ method: 'POST', url: '/fhir', headers: { authorization: as, 'content-type': FHIR }, payload: { resourceType: 'Bundle', type: 'transaction', entry } });
    return { status: res.statusCode, body: res.json() as Bundle & { issue?: Array<{ diagnostics?: string; expression?: string[] }> }, text: res.body.slice(0, 300) };
  };
  const read = async <T>(location: string): Promise<T> => {
    const res = await app.inject({ url: `/fhir/${location.replace(/\/_history\/.*$/, '')}`, headers: { authorization } });
    return res.json() as T;
  };
  const total = async (query: string): Promise<number> => {
    const res = await app.inject({ url: `/fhir/${query}${query.includes('?') ? '&' : '?'}_total=accurate`, headers: { authorization } });
    return (res.json() as Bundle).total!;
  };
  const post = async (resource: object): Promise<string> => {
    const res = await app.inject({ method: 'POST', url: `/fhir/${(resource as { resourceType: string }).resourceType}`, headers: { authorization, 'content-type': FHIR }, payload: resource });
    t.equal(res.statusCode, 201, 'seeded');
    return (res.json() as { id: string }).id;
  };
  return { ...server, authorization, transaction, read, total, post };
}
const idOf = (entry: BundleEntry | undefined) => entry?.response?.location?.split('/')[1];
const statuses = (bundle: Bundle) => (bundle.entry ?? []).map((e) => e.response?.status);

t.test('a conditional reference names the resource an entry creates under the same condition', async (t) => {
  const { transaction, read, total } = await setUp(t);

  t.test('a conditional create, then an Observation whose subject is the same condition', async (t) => {
    const bundle = [createPatient('1234'), observation(`Patient?identifier=${INS}|1234`)];
    const first = await transaction(bundle);
    t.equal(first.status, 200, first.text);
    t.same(statuses(first.body), ['201 Created', '201 Created']);
    const patientId = idOf(first.body.entry![0]);
    t.equal((await read<Observation>(first.body.entry![1]!.response!.location!)).subject?.reference, `Patient/${patientId}`, 'stored as Patient/<the id it got>');
    t.equal((first.body.entry![1]!.resource as Observation).subject?.reference, `Patient/${patientId}`, 'and answered so');

    // Sent again: the Patient exists, the conditional create matches it, the reference names it.
    const again = await transaction(bundle);
    t.equal(again.status, 200, again.text);
    t.same(statuses(again.body), ['200 OK', '201 Created']);
    t.equal(idOf(again.body.entry![0]), patientId, 'the match is the Patient created the first time');
    t.equal((await read<Observation>(again.body.entry![1]!.response!.location!)).subject?.reference, `Patient/${patientId}`);
    t.equal(await total(`Patient?identifier=${INS}|1234`), 1, 'one Patient');
    t.equal(await total(`Observation?subject=Patient/${patientId}`), 2);
  });

  t.test('the same condition written in another parameter order and encoding, the reference before the entry', async (t) => {
    const res = await transaction([
      observation(`Patient?birthdate=1980-02-14&identifier=${encodeURIComponent(`${INS}|5678`)}`),
      createPatient('5678', { birthDate: '1980-02-14' }, `identifier=${INS}|5678&birthdate=1980-02-14`),
    ]);
    t.equal(res.status, 200, res.text);
    t.equal((await read<Observation>(res.body.entry![0]!.response!.location!)).subject?.reference, `Patient/${idOf(res.body.entry![1])}`);
  });

  t.test('a conditional update that creates', async (t) => {
    const res = await transaction([
      { request: { method: 'PUT', url: `Patient?identifier=${INS}|9012` }, resource: { resourceType: 'Patient', identifier: [{ system: INS, value: '9012' }] } },
      observation(`Patient?identifier=${INS}|9012`),
    ]);
    t.equal(res.status, 200, res.text);
    t.same(statuses(res.body), ['201 Created', '201 Created']);
    t.equal((await read<Observation>(res.body.entry![1]!.response!.location!)).subject?.reference, `Patient/${idOf(res.body.entry![0])}`);
    const updated = await transaction([
      { request: { method: 'PUT', url: `Patient?identifier=${INS}|9012` }, resource: { resourceType: 'Patient', identifier: [{ system: INS, value: '9012' }], gender: 'male' } },
      observation(`Patient?identifier=${INS}|9012`),
    ]);
    t.same(statuses(updated.body), ['200 OK', '201 Created'], 'and one that updates its match');
    t.equal((await read<Observation>(updated.body.entry![1]!.response!.location!)).subject?.reference, `Patient/${idOf(res.body.entry![0])}`);
  });
});

t.test('a transaction that fails leaves neither the Patient nor the Observation', async (t) => {
  const { transaction, total } = await setUp(t);
  const invalid = observation(`Patient?identifier=${INS}|3456`, 'invalide');
  (invalid.resource as Record<string, unknown>).status = 'not-a-status';
  const res = await transaction([createPatient('3456'), observation(`Patient?identifier=${INS}|3456`), invalid]);
  t.ok(res.status >= 400 && res.status < 500, `refused: ${res.text}`);
  t.match(res.body, { issue: [{ expression: [/^Bundle\.entry\[2\]/] }] });
  // A condition that no entry carries is searched as before: matching nothing is a 412.
  const other = await transaction([createPatient('3456'), observation(`Patient?identifier=${INS}|0000`)]);
  t.equal(other.status, 412, other.text);
  t.match(other.body, { issue: [{ details: { coding: [{ code: 'FHIR_ERR_BUNDLE_CONDITIONAL_REFERENCE' }] }, expression: ['Bundle.entry[1]'], diagnostics: /matched 0 resources/ }] });
  t.equal(await total(`Patient?identifier=${INS}|3456`), 0, 'no Patient');
  t.equal(await total('Observation'), 0, 'no Observation');
});

t.test('the caller\'s policy still bounds what a conditional reference names', async (t) => {
  const { app, transaction, read, total, post, auth } = await setUp(t);
  // A Patient this caller may not see (scope restricted to female Patients) holds the INS-NIR.
  const hidden = await post({ resourceType: 'Patient', identifier: [{ system: INS, value: '7777' }], gender: 'male' });
  const restricted = await auth('system/Patient.crs?gender=female system/Observation.crs');
  const seen = await app.inject({ url: `/fhir/Patient?identifier=${INS}|7777&_total=accurate`, headers: { authorization: restricted } });
  t.equal((seen.json() as Bundle).total, 0, 'the restricted caller does not find it');

  // Their conditional create matches nothing they may see and creates; the reference names what they
  // created: not the hidden Patient, and no 412 "matched 2" that would tell them it exists.
  const res = await transaction([createPatient('7777'), observation(`Patient?identifier=${INS}|7777`)], restricted);
  t.equal(res.status, 200, res.text);
  const created = idOf(res.body.entry![0]);
  t.not(created, hidden);
  t.equal((await read<Observation>(res.body.entry![1]!.response!.location!)).subject?.reference, `Patient/${created}`);

  // A reference no entry's condition answers matches only what they may see, as before.
  await post({ resourceType: 'Patient', identifier: [{ system: INS, value: '8888' }], gender: 'male' });
  const alone = await transaction([observation(`Patient?identifier=${INS}|8888`)], restricted);
  t.equal(alone.status, 412, alone.text);
  t.match(alone.body, { issue: [{ diagnostics: /matched 0 resources/ }] });

  // An entry the policy refuses makes no resource to link to: the transaction fails whole.
  const refused = await transaction([createPatient('6666', { gender: 'male' }), observation(`Patient?identifier=${INS}|6666`)], restricted);
  t.equal(refused.status, 403, refused.text);
  t.equal(await total(`Patient?identifier=${INS}|6666`), 0);
  t.equal(await total(`Observation?subject:Patient.identifier=${INS}|6666`), 0);
});

t.test('conditional creates that match one existing resource are each answered with it', async (t) => {
  const { transaction, read, total, post } = await setUp(t);
  const id = await post({ resourceType: 'Patient', identifier: [{ system: INS, value: '4444' }], name: [{ family: 'Martin' }], birthDate: '1975-06-01' });
  const res = await transaction([
    createPatient('4444'),
    createPatient('4444', {}, 'family=Martin&birthdate=1975-06-01'),
    createPatient('4444'),
    observation(`Patient?identifier=${INS}|4444`),
  ]);
  t.equal(res.status, 200, res.text);
  t.same(statuses(res.body), ['200 OK', '200 OK', '200 OK', '201 Created']);
  for (const entry of res.body.entry!.slice(0, 3)) {
    t.equal(entry.response?.location, `Patient/${id}/_history/1`, 'names the existing Patient');
    t.equal(entry.resource?.id, id);
  }
  t.equal((await read<Observation>(res.body.entry![3]!.response!.location!)).subject?.reference, `Patient/${id}`);
  t.equal((await read<Patient>(`Patient/${id}`)).meta?.versionId, '1', 'nothing written to it');
  t.equal(await total('Patient'), 1, 'nothing created');
});

t.test('two entries that would write one resource are still a 400, and write nothing', async (t) => {
  const { transaction, read, total, post } = await setUp(t);
  const id = await post({ resourceType: 'Patient', identifier: [{ system: INS, value: '5555' }], name: [{ family: 'Martin' }] });
  const put = (url: string, family: string): Entry => ({ request: { method: 'PUT', url }, resource: { resourceType: 'Patient', id: url.includes('?') ? undefined : id, identifier: [{ system: INS, value: '5555' }], name: [{ family }] } });
  for (const [name, entries] of [
    ['two conditional updates', [put(`Patient?identifier=${INS}|5555`, 'A'), put('Patient?family=Martin', 'B')]],
    ['an update and a conditional delete', [put(`Patient/${id}`, 'A'), { request: { method: 'DELETE', url: `Patient?identifier=${INS}|5555` } }]],
    ['a conditional create matching what a conditional update writes', [createPatient('5555'), put('Patient?family=Martin', 'B')]],
    ['a conditional update, then a conditional create matching it', [put('Patient?family=Martin', 'B'), createPatient('5555'), createPatient('5555')]],
  ] as const) {
    const res = await transaction([...entries, observation(`Patient?identifier=${INS}|5555`)]);
    t.equal(res.status, 400, `${name}: ${res.text}`);
    t.match(res.body, { issue: [{ details: { coding: [{ code: 'FHIR_ERR_BUNDLE_DUPLICATE' }] }, expression: ['Bundle.entry[1]'], diagnostics: /more than once.*also Bundle\.entry\[0\]/ }] }, name);
  }
  t.match(await read<Patient>(`Patient/${id}`), { meta: { versionId: '1' }, name: [{ family: 'Martin' }] }, 'the Patient is untouched');
  t.equal(await total('Observation'), 0, 'no Observation');
});

// A batch commits entry by entry, with no interdependencies between its entries (http.html#brules):
// a conditional reference finds what an earlier entry committed by searching, as a later request
// would, and nothing an entry after it creates.
t.test('in a batch, a conditional reference finds what earlier entries committed', async (t) => {
  const { app, authorization, read } = await setUp(t);
  const batch = async (entry: Entry[]) => (await app.inject({ method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Bundle', type: 'batch', entry } })).json() as Bundle;
  const before = await batch([observation(`Patient?identifier=${INS}|1111`), createPatient('1111'), observation(`Patient?identifier=${INS}|1111`)]);
  t.same(statuses(before), ['412', '201 Created', '201 Created']);
  t.equal((await read<Observation>(before.entry![2]!.response!.location!)).subject?.reference, `Patient/${idOf(before.entry![1])}`);
});
