import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import type { Bundle, BundleEntry, DocumentReference, List, OperationOutcome } from '@medplum/fhirtypes';
import { buildSpace, FHIR_JSON, holderBearer, observation } from '../helpers/people.js';
import type { Space } from '../helpers/people.js';
import { MHD_LIST_TYPES, provideBundle } from '../fixtures/mhd/provide-bundle.js';

/**
 * An ITI-65 Provide Document Bundle holds one SubmissionSet List, its
 * DocumentReferences and their Binaries (each created: POST, answered 201),
 * optional Folder Lists (POST or PUT) and at most one Patient (POST, PUT or
 * GET), as IHE MHD 4.2 profiles it. Any other entry (a DELETE, a PATCH, a
 * GET of anything but the Patient, another resource type, a conditional
 * create of a document) would ride along with the submission unchecked: 422
 * FHIR_ERR_MHD_PROVIDE_ENTRY naming the entry, nothing stored or deleted.
 */

type Answer = { statusCode: number; body: string };
type Submission = Bundle & { entry: BundleEntry[] };
/** The answer as an OperationOutcome (a Bundle, when the write was accepted, has no issue). */
const outcome = (res: Answer) => ({ issue: [], ...(JSON.parse(res.body) as Partial<OperationOutcome>) }) as OperationOutcome;

/** A Provide Document Bundle for `patient` by the regular doctor of the space: List, DocumentReference, Binary. */
function submission(space: Space, patient: string): Submission {
  const bundle = provideBundle(patient, [{ author: space.doctor }]);
  (bundle.entry[0]!.resource as List).source = { reference: space.doctor };
  return bundle;
}

t.test('ITI-65 entries are the ones MHD allows', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const alice = await holderBearer(app, space.users.alice);
  const post = (bundle: Bundle, authorization = system) => app.inject({ method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR_JSON }, payload: bundle });
  const count = async (url: string) => ((await app.inject({ url, headers: { authorization: system } })).json() as Bundle).total;
  const state = async () => ({
    documents: await count(`/fhir/DocumentReference?subject=${space.alice}&_summary=count`),
    minorsDocuments: await count(`/fhir/DocumentReference?subject=${space.minor}&_summary=count`),
    lists: await count(`/fhir/List?subject=${space.alice}&_summary=count`),
    binaries: await count('/fhir/Binary?_summary=count'),
    observations: await count(`/fhir/Observation?subject=${space.alice}&_summary=count`),
    notices: await count(`/fhir/Communication?subject=${space.alice}&_summary=count`),
  });

  // Documents of the minor and of alice that a stray entry would delete or read.
  const minors = await post(submission(space, space.minor));
  t.equal(minors.statusCode, 200, minors.body.slice(0, 300));
  const minorDocument = (minors.json() as Bundle).entry![1]!.response!.location!.split('/')[1]!;
  const alices = await post(submission(space, space.alice));
  const aliceDocument = (alices.json() as Bundle).entry![1]!.response!.location!.split('/')[1]!;

  /** A refusal naming `where` with FHIR_ERR_MHD_PROVIDE_ENTRY, and nothing written, deleted or noticed. */
  const refused = async (t: Test, bundle: Submission, where: string, what: string) => {
    const before = await state();
    const master = (bundle.entry[1]!.resource as DocumentReference).masterIdentifier!.value!;
    const res = await post(bundle);
    t.equal(res.statusCode, 422, `${what} (${res.body.slice(0, 300)})`);
    const issue = outcome(res).issue.find((i) => i.details?.coding?.[0]?.code === 'FHIR_ERR_MHD_PROVIDE_ENTRY');
    t.equal(outcome(res).issue[0]?.details?.coding?.[0]?.code, 'FHIR_ERR_MHD_PROVIDE_ENTRY', `${what}: the answer's code`);
    t.same(issue?.expression, [where], `${what}: names ${where}`);
    t.match(issue?.diagnostics, new RegExp(`^${where.replace(/[.[\]]/g, '\\$&')}`), `${what}: its text starts with the entry`);
    t.same(await state(), before, `${what}: nothing stored, nothing deleted, no notice`);
    t.equal(await count(`/fhir/DocumentReference?identifier=${encodeURIComponent(master)}&_summary=count`), 0, `${what}: the submitted document is not found`);
    t.equal((await app.inject({ url: `/fhir/DocumentReference/${minorDocument}`, headers: { authorization: system } })).statusCode, 200, `${what}: the minor's document is still there`);
    t.match((await app.inject({ url: `/fhir/DocumentReference/${aliceDocument}`, headers: { authorization: system } })).json(), { status: 'current', meta: { versionId: '1' } }, `${what}: alice's document is untouched`);
    return res;
  };
  const withEntry = (entry: BundleEntry) => {
    const bundle = submission(space, space.alice);
    bundle.entry.push(entry);
    return bundle;
  };

  t.test('entries that are not a create of the submission\'s resources', async (t) => {
    await refused(t, withEntry({ request: { method: 'DELETE', url: `DocumentReference/${minorDocument}` } }), 'Bundle.entry[3]', 'a DELETE of another patient\'s document');
    await refused(t, withEntry({ request: { method: 'DELETE', url: `DocumentReference?_id=${aliceDocument}` } }), 'Bundle.entry[3]', 'a conditional DELETE');
    await refused(t, withEntry({ request: { method: 'GET', url: `DocumentReference/${minorDocument}` } }), 'Bundle.entry[3]', 'a GET of a document');
    await refused(t, withEntry({ request: { method: 'GET', url: `Binary?_count=100` } }), 'Bundle.entry[3]', 'a GET searching Binaries');
    await refused(t, withEntry({ resource: observation(space.alice, 'vital-signs') as never, request: { method: 'POST', url: 'Observation' } }), 'Bundle.entry[3]', 'another resource type');
    const patch = { resourceType: 'Binary' as const, contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify([{ op: 'replace', path: '/status', value: 'entered-in-error' }])).toString('base64') };
    await refused(t, withEntry({ resource: patch, request: { method: 'PATCH', url: `DocumentReference/${aliceDocument}` } }), 'Bundle.entry[3].request.method', 'a PATCH of a stored document');
    const other: List = { resourceType: 'List', status: 'current', mode: 'working', code: { coding: [{ system: 'http://loinc.org', code: '80738-8' }] }, subject: { reference: space.alice } };
    await refused(t, withEntry({ resource: other, request: { method: 'POST', url: 'List' } }), 'Bundle.entry[3]', 'a List that is neither SubmissionSet nor Folder');
  });

  t.test('the submission\'s own entries are created, never written over or matched', async (t) => {
    const put = submission(space, space.alice);
    put.entry[1]!.resource!.id = aliceDocument;
    put.entry[1]!.request = { method: 'PUT', url: `DocumentReference/${aliceDocument}` };
    await refused(t, put, 'Bundle.entry[1].request.method', 'a PUT of a stored document');
    const putBinary = submission(space, space.alice);
    putBinary.entry[2]!.resource!.id = `bin-${randomUUID()}`;
    putBinary.entry[2]!.request = { method: 'PUT', url: `Binary/${putBinary.entry[2]!.resource!.id}` };
    await refused(t, putBinary, 'Bundle.entry[2].request.method', 'a PUT of the Binary');
    const matched = submission(space, space.alice);
    matched.entry[1]!.request = { method: 'POST', url: 'DocumentReference', ifNoneExist: `_id=${minorDocument}` };
    await refused(t, matched, 'Bundle.entry[1].request.ifNoneExist', 'a conditional create of the document (matching another patient\'s)');
    const listed = submission(space, space.alice);
    listed.entry[0]!.request = { method: 'PUT', url: `List/ss-${randomUUID()}` };
    listed.entry[0]!.resource!.id = listed.entry[0]!.request.url!.slice(5);
    await refused(t, listed, 'Bundle.entry[0].request.method', 'a PUT of the SubmissionSet');
    const noRequest = submission(space, space.alice);
    delete noRequest.entry[2]!.request;
    await refused(t, noRequest, 'Bundle.entry[2].request.method', 'an entry without request');
    const elsewhere = submission(space, space.alice);
    elsewhere.entry[2]!.request = { method: 'POST', url: 'DocumentReference' };
    await refused(t, elsewhere, 'Bundle.entry[2].request.url', 'a Binary posted to another type');
  });

  t.test('every such entry is named at once', async (t) => {
    const bundle = withEntry({ request: { method: 'DELETE', url: `DocumentReference/${minorDocument}` } });
    bundle.entry.push({ request: { method: 'GET', url: `DocumentReference/${aliceDocument}` } });
    const res = await refused(t, bundle, 'Bundle.entry[3]', 'a DELETE and a GET');
    t.ok(outcome(res).issue.some((i) => i.expression?.[0] === 'Bundle.entry[4]'), 'the GET is named too');
  });

  t.test('what IHE allows besides the creates: the Patient read, created or updated, and Folders', async (t) => {
    const read = withEntry({ request: { method: 'GET', url: space.alice } });
    const res = await post(read);
    t.equal(res.statusCode, 200, `a GET of the Patient (${res.body.slice(0, 300)})`);
    const answer = res.json() as Bundle;
    t.same(answer.entry!.map((e) => e.response!.status!.slice(0, 3)), ['201', '201', '201', '200']);
    t.equal(answer.entry![3]!.resource?.id, space.alice.slice(8), 'answered with the Patient');
    const folder = withEntry({
      fullUrl: `urn:uuid:${randomUUID()}`,
      resource: { resourceType: 'List', status: 'current', mode: 'working', code: { coding: [{ system: MHD_LIST_TYPES, code: 'folder' }] }, subject: { reference: space.alice } } as List,
      request: { method: 'POST', url: 'List' },
    });
    const withFolder = await post(folder);
    t.equal(withFolder.statusCode, 200, `a Folder (${withFolder.body.slice(0, 300)})`);
    // The Patient as stored, PUT again: IHE lets a Provide Bundle create or update its Patient (the policy judges it).
    const stored = (await app.inject({ url: `/fhir/${space.alice}`, headers: { authorization: system } })).json() as Record<string, unknown>;
    const { meta: _meta, ...unchanged } = stored;
    const withPatient = await post(withEntry({ resource: unchanged as never, request: { method: 'PUT', url: space.alice } }));
    t.equal(withPatient.statusCode, 200, `a PUT of the Patient (${withPatient.body.slice(0, 300)})`);
    t.same((withPatient.json() as Bundle).entry!.map((e) => e.response!.status!.slice(0, 3)), ['201', '201', '201', '200']);
    const byHolder = await post(withEntry({ request: { method: 'GET', url: space.alice } }), alice);
    t.notOk((outcome(byHolder).issue ?? []).some((i) => i.details?.coding?.[0]?.code === 'FHIR_ERR_MHD_PROVIDE_ENTRY'), `the holder's GET of her Patient passes the MHD checks too (${byHolder.statusCode})`);
  });
});
