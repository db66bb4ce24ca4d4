import { createHash, randomUUID } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import type { Binary, Bundle, BundleEntry, List, OperationOutcome } from '@medplum/fhirtypes';
import { APPS, buildSpace, document, FHIR_JSON, holderBearer, signIn } from '../helpers/people.js';
import type { Space } from '../helpers/people.js';
import { provideBundle } from '../fixtures/mhd/provide-bundle.js';

/**
 * ITI-68 lets whoever may read a Binary's securityContext read its bytes. A
 * document's bytes are read by whoever may read the document: an ITI-65
 * Binary gets its DocumentReference as securityContext, one the client set
 * naming anything else is refused (422 FHIR_ERR_MHD_SECURITY_CONTEXT), and
 * outside ITI-65 a document may not name a Binary placed elsewhere, nor may
 * a used Binary be moved elsewhere (422 FHIR_ERR_DOC_CONTENT_CONTEXT).
 * Alice plays the patient whose report is sent; the minor's legal
 * representative must never read it.
 */

const BASE = 'http://carnet.test/fhir';
type Answer = { statusCode: number; body: string };
const errorCode = (res: Answer) => (JSON.parse(res.body) as OperationOutcome).issue?.[0]?.details?.coding?.[0]?.code;
const sha1 = (bytes: Buffer) => createHash('sha1').update(bytes).digest('base64');

/** A Provide Document Bundle for `patient` by the regular doctor of the space (List, DocumentReference, Binary). */
function submission(space: Space, patient: string, bytes?: Buffer): Bundle & { entry: BundleEntry[] } {
  const bundle = provideBundle(patient, [{ author: space.doctor, ...(bytes ? { bytes } : {}) }]);
  (bundle.entry[0]!.resource as List).source = { reference: space.doctor };
  return bundle;
}

/** What a refused write must have left: no document, no Binary, no notice beyond those counted before. */
async function stored(space: Space) {
  const system = await space.systemAuth();
  const count = async (url: string) => ((await space.app.inject({ url, headers: { authorization: system } })).json() as Bundle).total;
  return {
    documents: await count(`/fhir/DocumentReference?subject=${space.alice}&_summary=count`),
    lists: await count(`/fhir/List?subject=${space.alice}&_summary=count`),
    binaries: await count('/fhir/Binary?_summary=count'),
    notices: await count(`/fhir/Communication?subject=${space.alice}&_summary=count`),
  };
}

t.test('ITI-65: a Binary\'s securityContext is the document whose content it is', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const alice = await holderBearer(app, space.users.alice);
  const parent = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.parent, scope: 'launch/patient patient/*.cruds', patient: space.minor.slice(8) })).access_token}`;
  const post = (bundle: Bundle) => app.inject({ method: 'POST', url: '/fhir', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: bundle });

  // The minor's vaccination note, submitted as ITI-65 does: its Binary placed with it.
  const minors = await post(submission(space, space.minor));
  t.equal(minors.statusCode, 200, minors.body.slice(0, 300));
  const minorDocument = (minors.json() as Bundle).entry![1]!.response!.location!.split('/')[1]!;
  t.equal((await app.inject({ url: `/fhir/DocumentReference/${minorDocument}`, headers: { authorization: parent } })).statusCode, 200, 'the representative reads the minor\'s document');

  /** Alice's report with its Binary's securityContext set by the client. */
  const withContext = (reference: string | ((b: Bundle & { entry: BundleEntry[] }) => string), tweak?: (b: Bundle & { entry: BundleEntry[] }) => void) => {
    const bundle = submission(space, space.alice, Buffer.from(`%PDF-1.4\n% alice's discharge report ${randomUUID()}\n%%EOF\n`));
    tweak?.(bundle);
    (bundle.entry[2]!.resource as Binary).securityContext = { reference: typeof reference === 'string' ? reference : reference(bundle) };
    return bundle;
  };

  t.test('a securityContext naming anything but the document is refused, nothing stored', async (t) => {
    for (const [what, reference] of [
      ['the minor', space.minor],
      ['the minor\'s document', `DocumentReference/${minorDocument}`],
      ['the minor\'s document, absolute', `${BASE}/DocumentReference/${minorDocument}`],
      ['alice herself', space.alice],
      ['the SubmissionSet of the Bundle', (b: Bundle) => b.entry![0]!.fullUrl!],
    ] as const) {
      const before = await stored(space);
      const res = await post(withContext(reference));
      t.equal(res.statusCode, 422, `${what} (${res.body.slice(0, 300)})`);
      t.equal(errorCode(res), 'FHIR_ERR_MHD_SECURITY_CONTEXT', what);
      t.match(JSON.parse(res.body), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', expression: ['Bundle.entry[2].resource.securityContext'] }] }, `${what}: names the entry and the field`);
      t.same(await stored(space), before, `${what}: no document, List, Binary or notice`);
    }
  });

  t.test('the document itself, however the Bundle names it, places the bytes with the document', async (t) => {
    for (const [what, bundle] of [
      ['no securityContext', submission(space, space.alice)],
      ['the document\'s fullUrl', withContext((b) => b.entry![1]!.fullUrl!)],
      // The document entry carries the id of the minor's document (a create ignores it): the Binary names it under our
      // base, which the transaction would not rewrite; it is written as the transaction knows the document.
      ['DocumentReference/<its id> under the base', withContext(`${BASE}/DocumentReference/${minorDocument}`, (b) => { b.entry[1]!.resource!.id = minorDocument; })],
    ] as const) {
      const res = await post(bundle);
      t.equal(res.statusCode, 200, `${what} (${res.body.slice(0, 300)})`);
      const [, doc, binary] = (res.json() as Bundle).entry!.map((e) => e.response!.location!.split('/_history')[0]!);
      const stored = (await app.inject({ url: `/fhir/${binary}?_format=json`, headers: { authorization: system } })).json() as Binary;
      t.equal(stored.securityContext?.reference, doc, `${what}: the Binary is the document's`);
      t.equal((await app.inject({ url: `/fhir/${binary}`, headers: { authorization: alice, accept: 'application/pdf' } })).statusCode, 200, `${what}: alice reads her document's bytes`);
      t.equal((await app.inject({ url: `/fhir/${binary}`, headers: { authorization: parent, accept: 'application/pdf' } })).statusCode, 403, `${what}: the minor's representative does not`);
    }
    t.equal((await app.inject({ url: `/fhir/DocumentReference/${minorDocument}`, headers: { authorization: system } })).statusCode, 200, 'the minor\'s document is untouched');
  });

  t.test('a Binary no document of the Bundle names can be placed nowhere', async (t) => {
    const bundle = submission(space, space.alice);
    bundle.entry.push({ fullUrl: `urn:uuid:${randomUUID()}`, resource: { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from('loose').toString('base64'), securityContext: { reference: `DocumentReference/${minorDocument}` } }, request: { method: 'POST', url: 'Binary' } });
    const before = await stored(space);
    const res = await post(bundle);
    t.equal(res.statusCode, 422, res.body.slice(0, 300));
    t.equal(errorCode(res), 'FHIR_ERR_MHD_SECURITY_CONTEXT');
    t.match(res.body, /Bundle\.entry\[3\]\.resource\.securityContext/);
    t.same(await stored(space), before);
  });
});

t.test('outside ITI-65, a document names only bytes placed with it', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const alice = await holderBearer(app, space.users.alice);
  const parent = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.parent, scope: 'launch/patient patient/*.cruds', patient: space.minor.slice(8) })).access_token}`;
  const json = { authorization: system, 'content-type': FHIR_JSON };
  const minors = await app.inject({ method: 'POST', url: '/fhir', headers: json, payload: submission(space, space.minor) });
  const minorDocument = (minors.json() as Bundle).entry![1]!.response!.location!.split('/')[1]!;
  const bytes = Buffer.from(`%PDF-1.4\n% alice's report ${randomUUID()}\n%%EOF\n`);
  const alicesDocument = (url: string) => ({ ...document(space.alice, undefined, 'report'), content: [{ attachment: { contentType: 'application/pdf', url, size: bytes.length, hash: sha1(bytes) } }] });
  const postBinary = async (context?: string) => {
    const res = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization: system, 'content-type': 'application/pdf', ...(context ? { 'x-security-context': context } : {}) }, payload: bytes });
    if (res.statusCode !== 201) throw new Error(`${res.statusCode} ${res.body}`);
    return String(res.headers.location).split('/Binary/')[1]!.split('/')[0]!;
  };
  const refused = async (t: Test, res: Answer, what: string, before: Awaited<ReturnType<typeof stored>>, expression = /DocumentReference\.content\[0\]\.attachment\.url/) => {
    t.equal(res.statusCode, 422, `${what} (${res.body.slice(0, 300)})`);
    t.equal(errorCode(res), 'FHIR_ERR_DOC_CONTENT_CONTEXT', what);
    t.match(res.body, expression, `${what}: names the field`);
    t.same(await stored(space), before, `${what}: no document, Binary or notice`);
  };

  t.test('bytes posted for another patient\'s document, then named by alice\'s: refused', async (t) => {
    for (const [what, context] of [
      ['X-Security-Context: the minor\'s document', `DocumentReference/${minorDocument}`],
      ['X-Security-Context: alice (her Patient is read by more people than her masked documents)', space.alice],
    ] as const) {
      const binary = await postBinary(context);
      const before = await stored(space);
      await refused(t, await app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: json, payload: alicesDocument(`Binary/${binary}`) }), `REST create, ${what}`, before);
      const id = `doc-${randomUUID()}`;
      await refused(t, await app.inject({ method: 'PUT', url: `/fhir/DocumentReference/${id}`, headers: json, payload: { ...alicesDocument(`${BASE}/Binary/${binary}`), id } }), `REST update-as-create, ${what}`, before);
      const transaction = await app.inject({ method: 'POST', url: '/fhir', headers: json, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: alicesDocument(`Binary/${binary}`), request: { method: 'POST', url: 'DocumentReference' } }] } });
      await refused(t, transaction, `transaction, ${what}`, before, /Bundle\.entry\[0\]\.resource\.content\[0\]\.attachment\.url/);
    }
  });

  t.test('bytes sent in the same transaction, placed with another patient\'s document: refused', async (t) => {
    const binaryUrl = `urn:uuid:${randomUUID()}`;
    const before = await stored(space);
    const res = await app.inject({ method: 'POST', url: '/fhir', headers: json, payload: { resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: binaryUrl, resource: { resourceType: 'Binary', contentType: 'application/pdf', securityContext: { reference: `DocumentReference/${minorDocument}` }, data: bytes.toString('base64') }, request: { method: 'POST', url: 'Binary' } },
      { resource: alicesDocument(binaryUrl), request: { method: 'POST', url: 'DocumentReference' } },
    ] } });
    await refused(t, res, 'a plain transaction', before, /Bundle\.entry\[1\]/);
  });

  t.test('bytes placed with the document itself, or with nothing, are named as before', async (t) => {
    const docId = `doc-${randomUUID()}`;
    const placed = await postBinary(`DocumentReference/${docId}`);
    const put = await app.inject({ method: 'PUT', url: `/fhir/DocumentReference/${docId}`, headers: json, payload: { ...alicesDocument(`Binary/${placed}`), id: docId } });
    t.equal(put.statusCode, 201, put.body.slice(0, 300));
    t.equal((await app.inject({ url: `/fhir/Binary/${placed}`, headers: { authorization: alice, accept: 'application/pdf' } })).statusCode, 200, 'alice reads her bytes');
    t.equal((await app.inject({ url: `/fhir/Binary/${placed}`, headers: { authorization: parent, accept: 'application/pdf' } })).statusCode, 403, 'the representative does not');
    // A second document of hers naming the same bytes: readable by whoever reads the first one.
    const second = await app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: json, payload: alicesDocument(`Binary/${placed}`) });
    t.equal(second.statusCode, 201, `another document of the same patient (${second.body.slice(0, 300)})`);
    const loose = await postBinary();
    const unplaced = await app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: json, payload: alicesDocument(`Binary/${loose}`) });
    t.equal(unplaced.statusCode, 201, `bytes placed nowhere (only system clients read them; ${unplaced.body.slice(0, 200)})`);
  });

  t.test('the bytes of a document cannot be moved to another resource\'s readers', async (t) => {
    const submitted = await app.inject({ method: 'POST', url: '/fhir', headers: json, payload: submission(space, space.alice, bytes) });
    const [, doc, binaryPath] = (submitted.json() as Bundle).entry!.map((e) => e.response!.location!.split('/_history')[0]!);
    const binaryId = binaryPath!.split('/')[1]!;
    const moved = (reference: string) => ({ resourceType: 'Binary', id: binaryId, contentType: 'application/pdf', securityContext: { reference }, data: bytes.toString('base64') });
    const before = await stored(space);
    for (const [what, res] of [
      ['PUT of the same bytes', await app.inject({ method: 'PUT', url: `/fhir/${binaryPath}`, headers: json, payload: moved(`DocumentReference/${minorDocument}`) })],
      ['PUT of the raw bytes with X-Security-Context', await app.inject({ method: 'PUT', url: `/fhir/${binaryPath}`, headers: { authorization: system, 'content-type': 'application/pdf', 'x-security-context': space.minor }, payload: bytes })],
      ['PATCH', await app.inject({ method: 'PATCH', url: `/fhir/${binaryPath}`, headers: { authorization: system, 'content-type': 'application/json-patch+json' }, payload: JSON.stringify([{ op: 'replace', path: '/securityContext', value: { reference: `DocumentReference/${minorDocument}` } }]) })],
      ['a transaction PUT', await app.inject({ method: 'POST', url: '/fhir', headers: json, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: moved(`DocumentReference/${minorDocument}`), request: { method: 'PUT', url: binaryPath } }] } })],
    ] as const) {
      t.equal(res.statusCode, 422, `${what} (${res.body.slice(0, 300)})`);
      t.equal(errorCode(res), 'FHIR_ERR_DOC_CONTENT_CONTEXT', what);
      t.match(res.body, /securityContext/, `${what}: names the field`);
    }
    t.same(await stored(space), before);
    const binary = (await app.inject({ url: `/fhir/${binaryPath}?_format=json`, headers: { authorization: system } })).json() as Binary;
    t.equal(binary.meta?.versionId, '1', 'no new version');
    t.equal(binary.securityContext?.reference, doc);
    t.equal((await app.inject({ url: `/fhir/${binaryPath}`, headers: { authorization: alice, accept: 'application/pdf' } })).statusCode, 200, 'alice still reads her bytes');
    t.equal((await app.inject({ url: `/fhir/${binaryPath}`, headers: { authorization: parent, accept: 'application/pdf' } })).statusCode, 403, 'the representative still does not');
    const same = await app.inject({ method: 'PUT', url: `/fhir/${binaryPath}`, headers: json, payload: moved(doc!) });
    t.equal(same.statusCode, 200, `the same bytes and securityContext again (${same.body.slice(0, 200)})`);
  });
});
