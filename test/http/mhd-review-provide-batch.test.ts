import { createHash, randomUUID } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import type { Bundle, BundleEntry, DocumentReference, List, OperationOutcome } from '@medplum/fhirtypes';
import { buildSpace, document, FHIR_JSON } from '../helpers/people.js';
import type { Space } from '../helpers/people.js';
import { provideBundle } from '../fixtures/mhd/provide-bundle.js';

/**
 * ITI-65 is a transaction: a Provide Document Bundle sent as a batch would
 * store the entries that pass (the Binary, the DocumentReference) while its
 * List fails, leaving a document whose attachment url is still the
 * `urn:uuid:` of an entry, unreadable, and a notice of it in the patient's
 * space. A batch that declares the ProvideBundle profile or creates a
 * SubmissionSet is refused whole (422 FHIR_ERR_MHD_PROVIDE_BATCH), and
 * in every path a document whose attachment url is a `urn:uuid:` or
 * `urn:oid:` that no entry of its transaction resolved is refused (422
 * FHIR_ERR_DOC_CONTENT_MISSING).
 */

type Answer = { statusCode: number; body: string };
const errorCode = (res: Answer) => (JSON.parse(res.body) as OperationOutcome).issue?.[0]?.details?.coding?.[0]?.code;
const sha1 = (bytes: Buffer) => createHash('sha1').update(bytes).digest('base64');

function submission(space: Space): Bundle & { entry: BundleEntry[] } {
  const bundle = provideBundle(space.alice, [{ author: space.doctor }]);
  (bundle.entry[0]!.resource as List).source = { reference: space.doctor };
  return bundle;
}

t.test('an ITI-65 Provide Bundle sent as a batch', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const post = (bundle: unknown) => app.inject({ method: 'POST', url: '/fhir', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: bundle as object });
  const count = async (url: string) => ((await app.inject({ url, headers: { authorization: system } })).json() as Bundle).total;
  const state = async () => ({
    documents: await count(`/fhir/DocumentReference?subject=${space.alice}&_summary=count`),
    lists: await count(`/fhir/List?subject=${space.alice}&_summary=count`),
    binaries: await count('/fhir/Binary?_summary=count'),
    notices: await count(`/fhir/Communication?subject=${space.alice}&_summary=count`),
  });

  const asBatch = (tweak: (b: Bundle & { entry: BundleEntry[] }) => void) => {
    const bundle = submission(space);
    bundle.type = 'batch';
    tweak(bundle);
    return bundle;
  };
  for (const [what, bundle] of [
    ['profile and SubmissionSet', asBatch(() => undefined)],
    ['the profile only (the List is no SubmissionSet)', asBatch((b) => { (b.entry[0]!.resource as List).code = { text: 'a list' }; })],
    ['a SubmissionSet only (no profile)', asBatch((b) => { delete b.meta; })],
  ] as const) {
    t.test(`refused whole: ${what}`, async (t) => {
      const before = await state();
      const master = (bundle.entry[1]!.resource as DocumentReference).masterIdentifier!.value!;
      const res = await post(bundle);
      t.equal(res.statusCode, 422, res.body.slice(0, 300));
      t.equal(errorCode(res), 'FHIR_ERR_MHD_PROVIDE_BATCH');
      t.match(JSON.parse(res.body), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', expression: ['Bundle.type'] }] });
      t.match(res.body, /ITI-65 is a transaction/);
      t.same(await state(), before, 'no document, List, Binary or notice');
      t.equal(await count(`/fhir/DocumentReference?identifier=${encodeURIComponent(master)}&_summary=count`), 0, 'the document is not found');
    });
  }

  t.test('the same Bundle as a transaction is stored; a batch updating its SubmissionSet is an ordinary batch', async (t) => {
    const res = await post(submission(space));
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
    const listId = (res.json() as Bundle).entry![0]!.response!.location!.split('/')[1]!;
    const list = (await app.inject({ url: `/fhir/List/${listId}`, headers: { authorization: system } })).json() as List;
    const { meta: _meta, ...unversioned } = list;
    const update = await post({ resourceType: 'Bundle', type: 'batch', entry: [{ resource: { ...unversioned, title: 'Consultation' }, request: { method: 'PUT', url: `List/${listId}` } }] });
    t.equal(update.statusCode, 200, update.body.slice(0, 300));
    t.equal((update.json() as Bundle).entry![0]!.response!.status!.slice(0, 3), '200', 'the List is updated: nothing is submitted');
  });
});

t.test('a document whose attachment url is an unresolved urn: is refused in every path', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const json = { authorization: system, 'content-type': FHIR_JSON };
  const bytes = Buffer.from(`%PDF-1.4\n% ${randomUUID()}\n%%EOF\n`);
  const count = async (url: string) => ((await app.inject({ url, headers: { authorization: system } })).json() as Bundle).total;
  const state = async () => ({
    documents: await count(`/fhir/DocumentReference?subject=${space.alice}&_summary=count`),
    notices: await count(`/fhir/Communication?subject=${space.alice}&_summary=count`),
  });
  const naming = (url: string) => ({ ...document(space.alice, undefined, 'report'), content: [{ attachment: { contentType: 'application/pdf', url, size: bytes.length, hash: sha1(bytes) } }] });
  const missing = (t: Test, res: Answer, what: string, expression: string) => {
    t.equal(res.statusCode, 422, `${what} (${res.body.slice(0, 300)})`);
    t.equal(errorCode(res), 'FHIR_ERR_DOC_CONTENT_MISSING', what);
    t.match(JSON.parse(res.body), { issue: [{ expression: [expression] }] }, `${what}: names ${expression}`);
    t.match(res.body, /names no entry of this transaction/, what);
  };
  const before = await state();

  t.test('a batch of the bytes and their document: the document entry fails', async (t) => {
    const binaryUrl = `urn:uuid:${randomUUID()}`;
    const res = await app.inject({ method: 'POST', url: '/fhir', headers: json, payload: { resourceType: 'Bundle', type: 'batch', entry: [
      { fullUrl: binaryUrl, resource: { resourceType: 'Binary', contentType: 'application/pdf', data: bytes.toString('base64') }, request: { method: 'POST', url: 'Binary' } },
      { resource: naming(binaryUrl), request: { method: 'POST', url: 'DocumentReference' } },
    ] } });
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
    const [binary, doc] = (res.json() as Bundle).entry!.map((e) => e.response!);
    t.equal(binary!.status!.slice(0, 3), '201', 'a batch entry stands alone: the Binary is stored');
    t.equal(doc!.status!.slice(0, 3), '422', 'its document, whose url no batch resolves, is not');
    t.equal((doc!.outcome as OperationOutcome).issue[0]?.details?.coding?.[0]?.code, 'FHIR_ERR_DOC_CONTENT_MISSING');
    t.same(await state(), before, 'no document, no notice');
  });

  t.test('a transaction whose url names no entry', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/fhir', headers: json, payload: { resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: `urn:uuid:${randomUUID()}`, resource: { resourceType: 'Binary', contentType: 'application/pdf', data: bytes.toString('base64') }, request: { method: 'POST', url: 'Binary' } },
      { resource: naming(`urn:uuid:${randomUUID()}`), request: { method: 'POST', url: 'DocumentReference' } },
    ] } });
    missing(t, res, 'transaction', 'Bundle.entry[1].resource.content[0].attachment.url');
    t.same(await state(), before);
  });

  t.test('a single create or update', async (t) => {
    missing(t, await app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: json, payload: naming(`urn:uuid:${randomUUID()}`) }), 'POST, urn:uuid', 'DocumentReference.content[0].attachment.url');
    missing(t, await app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: json, payload: naming('urn:oid:1.2.250.1.999.3.4') }), 'POST, urn:oid', 'DocumentReference.content[0].attachment.url');
    const id = `doc-${randomUUID()}`;
    missing(t, await app.inject({ method: 'PUT', url: `/fhir/DocumentReference/${id}`, headers: json, payload: { ...naming(`urn:uuid:${randomUUID()}`), id } }), 'PUT', 'DocumentReference.content[0].attachment.url');
    t.same(await state(), before);
  });

  t.test('a transaction whose url names its Binary entry is stored, the url made the Binary\'s', async (t) => {
    const binaryUrl = `urn:uuid:${randomUUID()}`;
    const res = await app.inject({ method: 'POST', url: '/fhir', headers: json, payload: { resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: binaryUrl, resource: { resourceType: 'Binary', contentType: 'application/pdf', data: bytes.toString('base64') }, request: { method: 'POST', url: 'Binary' } },
      { resource: naming(binaryUrl), request: { method: 'POST', url: 'DocumentReference' } },
    ] } });
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
    const stored = (res.json() as Bundle).entry![1]!.resource as DocumentReference;
    t.match(stored.content[0]!.attachment.url, /^http:\/\/carnet\.test\/fhir\/Binary\/[^/]+$/);
  });
});
