import t from 'tap';
import type { Bundle, DocumentReference, List, OperationOutcome } from '@medplum/fhirtypes';
import { buildSpace, FHIR_JSON, holderBearer, professionalBearer } from '../helpers/people.js';
import { buildTestServer } from '../helpers/server.js';
import { DOCPAT_SYSTEM, INS_NIR, provideBundle } from '../fixtures/mhd/provide-bundle.js';


t.test('a replacing submission tells nothing of a document its author may not read', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const bob = await holderBearer(app, space.users.bob);
  const doctor = await professionalBearer(app, space.users.doctor);
  const stranger = await professionalBearer(app, space.users.otherPro);

  const post = (authorization: string, bundle: Bundle) => app.inject({ method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR_JSON }, payload: bundle });
  /** A submission by the regular doctor for alice, replacing `replaced` when given; the new document's id. */
  const byDoctor = async (replaced?: string) => {
    const bundle = provideBundle(space.alice, [{ author: space.doctor, ...(replaced ? { relatesTo: [{ code: 'replaces' as const, target: { reference: `DocumentReference/${replaced}` } }] } : {}) }]);
    (bundle.entry[0]!.resource as List).source = { reference: space.doctor };
    const res = await post(doctor, bundle);
    if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`);
    return (res.json() as Bundle).entry![1]!.response!.location!.split('/')[1]!;
  };
  /** Bob's own document (class 90, DOCPAT), replacing `target`. */
  const byBob = (target: string) => {
    const bundle = provideBundle(space.bob, [{ author: space.bob, classCode: '90', relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${target}` } }] }]);
    (bundle.entry[0]!.resource as List).source = { reference: space.bob };
    (bundle.entry[1]!.resource as DocumentReference).type = { coding: [{ system: DOCPAT_SYSTEM, code: 'DOCPAT04' }] };
    return post(bob, bundle);
  };
  /** A professional without consent submits a document for alice, replacing `target`. */
  const byStranger = (target: string) => {
    const bundle = provideBundle(space.alice, [{ author: space.otherPro, relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${target}` } }] }]);
    (bundle.entry[0]!.resource as List).source = { reference: space.otherPro };
    return post(stranger, bundle);
  };
  /** The answer with the target's id blanked: what must not differ between a hidden and a missing document. */
  const answer = async (res: Awaited<ReturnType<typeof post>>, id: string) => ({
    status: res.statusCode,
    code: (res.json() as OperationOutcome).issue?.[0]?.details?.coding?.[0]?.code,
    text: res.body.replaceAll(id, '<id>'),
  });

  const current = await byDoctor();
  const superseded = await byDoctor();
  await byDoctor(superseded);
  const deleted = await byDoctor();
  t.equal((await app.inject({ method: 'DELETE', url: `/fhir/DocumentReference/${deleted}`, headers: { authorization: system } })).statusCode, 200);
  const missing = 'no-such-document';

  for (const [who, submit] of [['another patient', byBob], ['a professional without consent', byStranger]] as const) {
    const reference = await answer(await submit(missing), missing);
    t.equal(reference.status, 422, `${who}: a missing document (${reference.text.slice(0, 300)})`);
    t.equal(reference.code, 'FHIR_ERR_MHD_REPLACED_UNKNOWN');
    for (const [state, id] of [['current', current], ['superseded', superseded], ['deleted', deleted]] as const) {
      t.same(await answer(await submit(id), id), reference, `${who}: alice's ${state} document is answered as a missing one`);
    }
  }
  const after = await app.inject({ url: `/fhir/DocumentReference/${current}`, headers: { authorization: system } });
  t.equal((after.json() as DocumentReference).status, 'current', 'nothing superseded');

  // Whoever may read the document is still told its state.
  const notCurrent = await byDoctor(superseded).catch((err: Error) => err.message);
  t.match(notCurrent, /^422 .*FHIR_ERR_MHD_REPLACED_NOT_CURRENT/, 'the regular doctor learns it is no longer current');
  const replacing = await byDoctor(current);
  t.ok(replacing, 'and replaces a current one');
});

t.test('ITI-67/ITI-66 need a criterion that names the patient, and one that names a status', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': FHIR_JSON };
  await app.inject({ method: 'PUT', url: '/fhir/Patient/p1', headers, payload: { resourceType: 'Patient', id: 'p1', identifier: [{ system: INS_NIR, value: '285017512345678' }] } });
  const search = (query: string, transaction: string | undefined = 'ITI-67', type = 'DocumentReference') =>
    app.inject({ url: `/fhir/${type}?${query}`, headers: { authorization, ...(transaction ? { 'x-ihe-transaction': transaction } : {}) } });
  const refused = async (query: string, expression: string, transaction?: string, type?: string) => {
    const res = await search(query, transaction, type);
    t.equal(res.statusCode, 400, `${type ?? 'DocumentReference'}?${query}: ${res.body.slice(0, 200)}`);
    t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ code: 'invalid', expression: [expression], details: { coding: [{ code: 'FHIR_ERR_MHD_SEARCH_REQUIRED' }] } }] });
  };
  const allowed = async (query: string, transaction?: string, type?: string) => {
    const res = await search(query, transaction, type);
    t.equal(res.statusCode, 200, `${type ?? 'DocumentReference'}?${query}: ${res.body.slice(0, 200)}`);
  };

  await refused('patient:missing=false&status=current', 'patient');
  await refused('patient:missing=true&status=current', 'patient');
  await refused('patient=&status=current', 'patient');
  await refused('subject=Practitioner/x&status=current', 'patient');
  await refused('subject=Patient/p1,Group/g&status=current', 'patient');
  await refused('patient=p1&status:missing=false', 'status');
  await refused('patient:missing=false&code=submissionset&status=current', 'patient', 'ITI-66', 'List');

  await allowed('patient=p1&status=current');
  await allowed('patient:Patient=p1&status=current');
  await allowed(`patient.identifier=${encodeURIComponent(`${INS_NIR}|285017512345678`)}&status=current`);
  await allowed(`patient:identifier=${encodeURIComponent(`${INS_NIR}|285017512345678`)}&status=current`);
  await allowed('subject=Patient/p1&status=current');
  await allowed('subject:Patient=p1&status=current');
  await allowed('patient=p1&status=current,superseded');
  await allowed('patient=p1&status=current&code=submissionset', 'ITI-66', 'List');
  await allowed('patient:missing=false', '', 'DocumentReference');
});
