import t from 'tap';
import type { Test } from 'tap';
import type { Bundle, BundleEntry, List, OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';
import { FHIR_JSON, buildSpace, holderBearer, professionalBearer } from '../helpers/people.js';
import { VISIBILITY, provideBundle } from '../fixtures/mhd/provide-bundle.js';

// HAPI FHIR refuses it (HAPI-0929): a resource created under a condition (If-None-Exist, or a
// conditional update that matches nothing) must satisfy that condition. It was accepted: the next
// identical conditional create created again, and in a transaction a conditional reference with the
// same condition named a Patient that did not carry the identifier.

const FHIR = 'application/fhir+json';
const INS = 'urn:oid:1.2.250.1.213.1.4.8';
const CODE = 'FHIR_ERR_STORE_CONDITION_UNMET';

type Json = Record<string, unknown>;
/** What the tests read of an answer: a resource, an OperationOutcome or a Bundle. */
interface Outcome { resourceType?: string; id?: string; issue?: OperationOutcomeIssue[]; entry?: BundleEntry[] }

const patient = (value?: string, extra: Json = {}): Json => ({
  resourceType: 'Patient', name: [{ family: 'Durand', given: ['Léa'] }], ...(value ? { identifier: [{ system: INS, value }] } : {}), ...extra,
});
const heartRate = (subject: string, code = '8867-4', value = 70): Json => ({
  resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, subject: { reference: subject },
  valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});
const codeOf = (body: Outcome | undefined) => body?.issue?.[0]?.details?.coding?.[0]?.code;

async function setUp(t: Test) {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const send = async (method: 'POST' | 'PUT', url: string, payload: Json, headers: Record<string, string> = {}) => {
    const res = await app.inject({ method, url: `/fhir/${url}`, headers: { authorization, 'content-type': FHIR, ...headers }, payload });
    return { status: res.statusCode, body: res.json() as Outcome, text: res.body.slice(0, 400) };
  };
  const create = (type: string, resource: Json, ifNoneExist: string) => send('POST', type, resource, { 'if-none-exist': ifNoneExist });
  const bundle = (type: 'transaction' | 'batch', entry: Json[]) => send('POST', '', { resourceType: 'Bundle', type, entry });
  const total = async (query: string): Promise<number> => {
    const res = await app.inject({ url: `/fhir/${query}${query.includes('?') ? '&' : '?'}_total=accurate`, headers: { authorization } });
    return (res.json() as Bundle).total!;
  };
  return { send, create, bundle, total };
}

/** A 400 FHIR_ERR_STORE_CONDITION_UNMET whose diagnostics name the unmet criterion. */
function unmet(t: Test, res: { status: number; body: Outcome; text: string }, criterion: string | RegExp, name: string): void {
  t.equal(res.status, 400, `${name}: ${res.text}`);
  t.equal(res.body.resourceType, 'OperationOutcome', name);
  t.equal(codeOf(res.body), CODE, name);
  t.match(res.body.issue?.[0]?.diagnostics, criterion, `${name}: the diagnostics name the criterion`);
}

t.test('REST If-None-Exist that matches nothing: the new resource must satisfy it', async (t) => {
  const { create, total } = await setUp(t);
  const condition = `identifier=${INS}|A`;

  unmet(t, await create('Patient', patient('B'), condition), `identifier=${INS}|A`, 'another identifier');
  unmet(t, await create('Patient', patient(), condition), 'If-None-Exist', 'no identifier at all');
  t.equal(await total(`Patient?identifier=${INS}|B`), 0, 'the Patient carrying B was not stored');
  t.equal(await total('Patient'), 0, 'nothing was stored');

  const first = await create('Patient', patient('A'), condition);
  t.equal(first.status, 201, `satisfied: created (${first.text})`);
  const second = await create('Patient', patient('A'), condition);
  t.equal(second.status, 200, 'the same request again answers the first');
  t.equal(second.body.id, first.body.id);
  t.equal(await total(`Patient?identifier=${INS}|A`), 1, 'one Patient');
});

t.test('parameter types, both ways: what a search finds, the condition accepts', async (t) => {
  const { send, create, total } = await setUp(t);
  const subject = (await send('PUT', 'Patient/subject-x', { ...patient('X'), id: 'subject-x' })).body.id as string;
  await send('PUT', 'Patient/subject-y', { ...patient('Y'), id: 'subject-y' });

  // [name, type, condition, the criterion `other` does not meet, a resource that satisfies it, one that does not]
  const cases: Array<[string, string, string, string, Json, Json]> = [
    ['token identifier', 'Patient', `identifier=${INS}|T1`, `identifier=${INS}|T1`, patient('T1'), patient('T2')],
    ['token identifier, any system', 'Patient', 'identifier=T3', 'identifier=T3', patient('T3'), patient('T4')],
    ['string prefix, case and accents folded', 'Patient', `family=${encodeURIComponent('DURÁ')}&given=lea&identifier=S1`, 'family=DURÁ', patient('S1'), patient('S1', { name: [{ family: 'Martin', given: ['Léa'] }] })],
    ['date', 'Patient', 'birthdate=1980-04-12&identifier=D1', 'birthdate=1980-04-12', patient('D1', { birthDate: '1980-04-12' }), patient('D1', { birthDate: '1981-04-12' })],
    ['date with a prefix', 'Patient', 'birthdate=ge1990&identifier=D2', 'birthdate=ge1990', patient('D2', { birthDate: '1995-01-01' }), patient('D2', { birthDate: '1985-01-01' })],
    ['reference', 'Observation', `subject=Patient/${subject}&code=http://loinc.org|8867-4`, `subject=Patient/${subject}`, heartRate(`Patient/${subject}`), heartRate('Patient/subject-y')],
    ['reference as a bare id, and a quantity', 'Observation', `subject=${subject}&code=9279-1&value-quantity=ge12`, 'value-quantity=ge12', heartRate(`Patient/${subject}`, '9279-1', 16), heartRate(`Patient/${subject}`, '9279-1', 8)],
  ];
  for (const [name, type, condition, criterion, satisfied, other] of cases) {
    const refused = await create(type, other, condition);
    unmet(t, refused, criterion, `${name}, not satisfied`);
    t.notMatch(refused.body.issue?.[0]?.diagnostics, /identifier=[SD]\d|code=/, `${name}: only the unmet criterion is named`);
    const made = await create(type, satisfied, condition);
    t.equal(made.status, 201, `${name}, satisfied: ${made.text}`);
    const again = await create(type, satisfied, condition);
    t.equal(again.status, 200, `${name}: sent again, it finds the first`);
    t.equal(again.body.id, made.body.id);
    t.equal(await total(`${type}?${condition}`), 1, `${name}: one ${type}`);
  }

  // `_id`: a conditional update creates with the client's id, which then satisfies it.
  const byId = await send('PUT', 'Patient?_id=chosen-id', { ...patient('I1'), id: 'chosen-id' });
  t.equal(byId.status, 201, `_id, satisfied: ${byId.text}`);
  t.equal(byId.body.id, 'chosen-id');
  unmet(t, await send('PUT', 'Patient?_id=other-id', patient('I2')), '_id=other-id', '_id, with a server-assigned id');
  unmet(t, await send('PUT', 'Patient?_id=other-id', { ...patient('I2'), id: 'yet-another' }), '_id=other-id', '_id, the body naming another id');
  t.equal(await total('Patient?_id=other-id,yet-another'), 0, 'neither was created');
  // If-None-Exist on `_id` matching nothing can never be satisfied: a create gets a new id.
  unmet(t, await create('Patient', patient('I3'), '_id=never-stored'), '_id=never-stored', 'If-None-Exist on _id');
});

t.test('REST conditional update that matches nothing and creates', async (t) => {
  const { send, total } = await setUp(t);
  const url = `Patient?identifier=${encodeURIComponent(`${INS}|A`)}`;
  unmet(t, await send('PUT', url, patient('B')), `identifier=${INS}|A`, 'another identifier');
  t.equal(await total('Patient'), 0, 'nothing was stored');
  const made = await send('PUT', url, patient('A'));
  t.equal(made.status, 201, made.text);
  // Once it matches, an update of the match is an update, not a creation under the condition.
  const updated = await send('PUT', url, patient('A', { gender: 'female' }));
  t.equal(updated.status, 200, updated.text);
  t.equal(updated.body.id, made.body.id);
});

t.test('transaction: an entry that creates under an unmet condition fails the whole Bundle', async (t) => {
  const { bundle, total } = await setUp(t);
  const observation = { request: { method: 'POST', url: 'Observation' }, resource: heartRate(`Patient?identifier=${INS}|A`) };

  const ifNoneExist = await bundle('transaction', [
    { request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${INS}|A` }, resource: patient('B') },
    observation,
  ]);
  unmet(t, ifNoneExist, /^Bundle\.entry\[0\] \(POST Patient\): .*If-None-Exist.*identifier=urn:oid:1\.2\.250\.1\.213\.1\.4\.8\|A/, 'ifNoneExist');
  t.same(ifNoneExist.body.issue?.[0]?.expression, ['Bundle.entry[0]'], 'names the entry');

  const put = await bundle('transaction', [
    observation,
    { request: { method: 'PUT', url: `Patient?identifier=${INS}|A` }, resource: patient() },
  ]);
  unmet(t, put, /^Bundle\.entry\[1\] \(PUT Patient\?identifier=.*\): .*conditional update.*identifier=urn:oid:1\.2\.250\.1\.213\.1\.4\.8\|A/, 'conditional PUT');
  t.equal(await total('Patient'), 0, 'no Patient was written');
  t.equal(await total('Observation'), 0, 'no Observation linked to a Patient without the identifier');

  // Satisfied, the reference names the Patient that carries it.
  const ok = await bundle('transaction', [{ request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${INS}|A` }, resource: patient('A') }, observation]);
  t.equal(ok.status, 200, ok.text);
  const entries = ok.body.entry as BundleEntry[];
  t.match(entries.map((e) => e.response?.status), [/^201/, /^201/]);
  t.equal(await total(`Observation?subject.identifier=${INS}|A`), 1);
});

t.test('transaction: conditions naming entries by their fullUrl are tested with the ids they stand for', async (t) => {
  const { bundle, total } = await setUp(t);
  const entries = (observationSubject: 'patient' | 'other') => {
    const [patientUrl, otherUrl] = ['urn:uuid:0c6f3c6e-6d0c-4a53-9a43-6a7a1f0c0001', 'urn:uuid:0c6f3c6e-6d0c-4a53-9a43-6a7a1f0c0002'];
    return [
      { fullUrl: 'urn:uuid:0c6f3c6e-6d0c-4a53-9a43-6a7a1f0c0003', request: { method: 'POST', url: 'Observation', ifNoneExist: `subject=${patientUrl}&code=http://loinc.org|8867-4` },
        resource: heartRate(observationSubject === 'patient' ? patientUrl : otherUrl) },
      { fullUrl: patientUrl, request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${INS}|P1` }, resource: patient('P1') },
      { fullUrl: otherUrl, request: { method: 'POST', url: 'Patient' }, resource: patient('P2') },
    ];
  };
  unmet(t, await bundle('transaction', entries('other')), /^Bundle\.entry\[0\] .*subject=Patient\//, 'the Observation names the other Patient');
  t.equal(await total('Patient'), 0, 'nothing was written');
  const ok = await bundle('transaction', entries('patient'));
  t.equal(ok.status, 200, ok.text);
  t.match((ok.body.entry as BundleEntry[]).map((e) => e.response?.status), [/^201/, /^201/, /^201/]);
  const again = await bundle('transaction', entries('patient'));
  t.match((again.body.entry as BundleEntry[]).map((e) => e.response?.status), [/^200/, /^200/, /^201/], 'sent again, both conditions find what the first wrote');
});

// Found on the way: a conditional PUT entry matching nothing took the body's id even when a resource
// with that id existed (and did not match), and overwrote it; over REST the same request is a 409.
t.test('a conditional PUT entry that matches nothing does not overwrite the resource its body names', async (t) => {
  const { send, bundle, total } = await setUp(t);
  await send('PUT', 'Patient/existing', { ...patient('OTHER'), id: 'existing' });
  const body = { ...patient('A'), id: 'existing' };
  const rest = await send('PUT', `Patient?identifier=${encodeURIComponent(`${INS}|A`)}`, body);
  t.equal(rest.status, 409, `over REST: ${rest.text}`);
  const tx = await bundle('transaction', [{ request: { method: 'PUT', url: `Patient?identifier=${INS}|A` }, resource: body }]);
  t.equal(tx.status, 409, `in a transaction: ${tx.text}`);
  t.match(tx.body, { issue: [{ expression: ['Bundle.entry[0]'], diagnostics: /exists but does not match the condition/ }] });
  const batch = await bundle('batch', [{ request: { method: 'PUT', url: `Patient?identifier=${INS}|A` }, resource: body }]);
  t.equal(batch.body.entry?.[0]?.response?.status, '409', 'in a batch');
  t.equal(await total(`Patient?identifier=${INS}|A`), 0, 'the existing Patient was not overwritten');
  t.equal(await total(`Patient?identifier=${INS}|OTHER`), 1);
});

t.test('batch: the entry fails, the others are written', async (t) => {
  const { bundle, total } = await setUp(t);
  const res = await bundle('batch', [
    { request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${INS}|A` }, resource: patient('B') },
    { request: { method: 'PUT', url: `Patient?identifier=${INS}|C` }, resource: patient('D') },
    { request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${INS}|E` }, resource: patient('E') },
  ]);
  t.equal(res.status, 200, res.text);
  const entries = res.body.entry as BundleEntry[];
  for (const [i, criterion] of [[0, `identifier=${INS}|A`], [1, `identifier=${INS}|C`]] as const) {
    t.equal(entries[i]!.response?.status, '400', `entry ${i}`);
    t.equal(codeOf(entries[i]!.response?.outcome as Outcome), CODE, `entry ${i}`);
    t.match((entries[i]!.response?.outcome as OperationOutcome).issue[0]!.diagnostics, criterion, `entry ${i} names its criterion`);
  }
  t.match(entries[2]!.response?.status, /^201/, 'the satisfied entry is written');
  t.equal(await total('Patient'), 1, 'only that one');
  t.equal(await total(`Patient?identifier=${INS}|E`), 1);
});

t.test('conditions an in-memory test cannot decide (chains, _has) are not tested, as in HAPI FHIR', async (t) => {
  const { send, create } = await setUp(t);
  await send('PUT', 'Patient/chained', { ...patient('K1'), id: 'chained' });
  const chain = await create('Observation', heartRate('Patient/chained'), `subject:Patient.identifier=${INS}|K2&code=8867-4`);
  t.equal(chain.status, 201, `a chain is not checked: ${chain.text}`);
  const has = await create('Patient', patient('H1'), '_has:Observation:subject:code=8867-4&identifier=H1');
  t.equal(has.status, 201, `_has is not checked, the other criteria are: ${has.text}`);
  unmet(t, await create('Patient', patient('H2'), '_has:Observation:subject:code=1234-5&identifier=H3'), 'identifier=H3', 'the decidable criterion next to a _has');
});

// The search of a condition leaves out what the caller may not see (a value naming a document masked
// from them matches nothing: access/hidden-names.ts); the check of what is created must not answer
// differently for such a value, or its 201/400 would tell that the masked document exists.
t.test('the check tells nothing of what the caller may not see', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const alice = await holderBearer(app, space.users.alice);
  const doctor = await professionalBearer(app, space.users.doctor);
  const permitted = await professionalBearer(app, space.users.permittedPro);
  const submission = provideBundle(space.alice, [{ author: space.doctor }]);
  (submission.entry[0]!.resource as List).source = { reference: space.doctor };
  const provided = await app.inject({ method: 'POST', url: '/fhir', headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: submission });
  t.equal(provided.statusCode, 200, provided.body.slice(0, 300));
  const masked = (provided.json() as Bundle).entry!.map((e) => e.response!.location!).find((l) => l.startsWith('DocumentReference/'))!.split('/')[1]!;
  const label = await app.inject({ method: 'PATCH', url: `/fhir/DocumentReference/${masked}`, headers: { authorization: alice, 'content-type': 'application/json-patch+json' },
    payload: JSON.stringify([{ op: 'add', path: '/securityLabel/-', value: { coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] } }]) });
  t.equal(label.statusCode, 200, label.body.slice(0, 300));
  t.equal((await app.inject({ url: `/fhir/DocumentReference/${masked}`, headers: { authorization: permitted } })).statusCode, 403, 'masked from the professional');

  const list = (named: string, marker: string) => ({
    resourceType: 'List', status: 'current', mode: 'working', subject: { reference: space.alice },
    identifier: [{ system: 'urn:review', value: marker }], entry: [{ item: { reference: `DocumentReference/${named}` } }],
  });
  const create = (document: string, named: string, marker: string) => app.inject({
    method: 'POST', url: '/fhir/List', headers: { authorization: permitted, 'content-type': FHIR_JSON, 'if-none-exist': `item=DocumentReference/${document}&identifier=urn:review|${marker}` }, payload: list(named, marker),
  });
  for (const [document, what] of [[masked, 'the masked document'], ['never-stored', 'a document never stored']] as const) {
    const satisfied = await create(document, document, `${what} named`);
    t.equal(satisfied.statusCode, 201, `${what}, named by the List: created (${satisfied.body.slice(0, 200)})`);
    const other = await create(document, 'someone-else', `${what} not named`);
    t.equal(other.statusCode, 400, `${what}, not named by the List: 400`);
    t.equal(codeOf(other.json() as Outcome), CODE);
    t.match((other.json() as Outcome).issue?.[0]?.diagnostics, `item=DocumentReference/${document}`, 'the diagnostics name the criterion the client sent');
  }
});
