import t from 'tap';
import type { Bundle, DocumentReference, List, OperationOutcome } from '@medplum/fhirtypes';
import { buildSpace, document, FHIR_JSON, holderBearer, professionalBearer } from '../helpers/people.js';
import { provideBundle } from '../fixtures/mhd/provide-bundle.js';


/**
 * A document's bytes (its Binary, ITI-68) follow the document: gone when it
 * is deleted (410, as a read of it), kept while it is not (409 on their
 * DELETE), and served in the form the Accept header prefers by its q-values.
 */
t.test('a document\'s bytes follow the document', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const alice = await holderBearer(app, space.users.alice);
  const bob = await holderBearer(app, space.users.bob);
  const doctor = await professionalBearer(app, space.users.doctor);

  /** The regular doctor submits a document of alice through ITI-65; its id and the path of its bytes. */
  const submit = async (bytes?: Buffer, relatesTo?: DocumentReference['relatesTo']) => {
    const submission = provideBundle(space.alice, [{ author: space.doctor, ...(bytes ? { bytes } : {}), ...(relatesTo ? { relatesTo } : {}) }]);
    (submission.entry[0]!.resource as List).source = { reference: space.doctor };
    const res = await app.inject({ method: 'POST', url: '/fhir', headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: submission });
    if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body.slice(0, 400)}`);
    const id = (res.json() as Bundle).entry![1]!.response!.location!.split('/')[1]!;
    const stored = (await app.inject({ url: `/fhir/DocumentReference/${id}`, headers: { authorization: doctor } })).json() as DocumentReference;
    const path = new URL(stored.content[0]!.attachment.url!).pathname;
    return { id, path, binaryId: path.split('/').pop()! };
  };
  const get = (url: string, authorization: string, accept?: string) => app.inject({ url, headers: { authorization, ...(accept !== undefined ? { accept } : {}) } });
  const del = (url: string, authorization = system) => app.inject({ method: 'DELETE', url, headers: { authorization } });
  const errorCode = (body: string) => ((JSON.parse(body) as OperationOutcome).issue[0]?.details?.coding?.[0]?.code);

  t.test('a deleted document\'s bytes answer 410 Gone, as a read of the document does', async (t) => {
    const { id, path, binaryId } = await submit(Buffer.from('%PDF-1.4\n% results: deleted later\n%%EOF\n'));
    t.equal((await get(path, alice)).statusCode, 200, 'readable while the document is');
    t.equal((await del(`/fhir/DocumentReference/${id}`)).statusCode, 200);
    for (const accept of [undefined, '*/*', 'application/pdf', FHIR_JSON]) {
      const res = await get(path, alice, accept);
      t.equal(res.statusCode, 410, `the patient, Accept ${accept ?? '(none)'}`);
      t.match(res.headers['content-type'], /^application\/fhir\+json/);
      t.notMatch(res.body, /deleted later/, 'no bytes');
      t.match(JSON.parse(res.body), { resourceType: 'OperationOutcome', issue: [{ code: 'deleted' }] });
      t.equal(errorCode(res.body), 'FHIR_ERR_STORE_GONE');
      t.match(res.body, new RegExp(`DocumentReference/${id}`), 'names the deleted document');
    }
    // Whatever a read of the document answers someone, its bytes answer them the same.
    for (const [who, authorization] of [['the patient', alice], ['the regular doctor', doctor], ['another patient', bob]] as const) {
      const documentRead = (await get(`/fhir/DocumentReference/${id}`, authorization)).statusCode;
      t.equal((await get(path, authorization)).statusCode, documentRead, `${who}: as the document (${documentRead})`);
    }
    // A vread is judged as a vread of the document's last version: still the patient's.
    const vread = await get(`/fhir/Binary/${binaryId}/_history/1`, alice, 'application/pdf');
    t.equal(vread.statusCode, (await get(`/fhir/DocumentReference/${id}/_history/1`, alice)).statusCode, 'vread as the document\'s vread');
    t.equal(vread.statusCode, 200);
    t.equal((await get(`/fhir/Binary/${binaryId}/_history/1`, bob)).statusCode, 403, 'not another patient\'s');
    t.equal((await get(path, system, 'application/pdf')).statusCode, 200, 'a system client reads the Binary as stored');
  });

  t.test('the bytes of a document that is not deleted cannot be deleted (409)', async (t) => {
    const { id, path, binaryId } = await submit();
    const refused = await del(path);
    t.equal(refused.statusCode, 409, refused.body.slice(0, 300));
    t.match(JSON.parse(refused.body), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'conflict' }] });
    t.equal(errorCode(refused.body), 'FHIR_ERR_DOC_BINARY_IN_USE');
    t.match(refused.body, new RegExp(`DocumentReference/${id}\\b`), 'names the document');
    t.equal((await get(path, alice, 'application/pdf')).statusCode, 200, 'the bytes are still there');
    const conditional = await del(`/fhir/Binary?_id=${binaryId}`);
    t.equal(conditional.statusCode, 409, 'a conditional delete as well');
    t.equal((await get(path, alice, 'application/pdf')).statusCode, 200);
    const byPatient = await del(path, alice);
    t.equal(byPatient.statusCode, 403, 'the policy first: whoever may not delete the Binary learns nothing of the documents');
    t.notMatch(byPatient.body, new RegExp(id));

    t.equal((await del(`/fhir/DocumentReference/${id}`)).statusCode, 200, 'the document deleted first');
    const deleted = await del(path);
    t.equal(deleted.statusCode, 200, `then its bytes (${deleted.body.slice(0, 200)})`);
    t.equal((await get(path, system)).statusCode, 410);
  });

  t.test('a Bundle\'s DELETE entries meet the same rule', async (t) => {
    const { id, path, binaryId } = await submit();
    const bundle = (type: 'transaction' | 'batch', urls: string[]) => app.inject({
      method: 'POST', url: '/fhir', headers: { authorization: system, 'content-type': FHIR_JSON },
      payload: { resourceType: 'Bundle', type, entry: urls.map((url) => ({ request: { method: 'DELETE', url } })) },
    });
    const refused = await bundle('transaction', [`Binary/${binaryId}`]);
    t.equal(refused.statusCode, 409, refused.body.slice(0, 300));
    t.equal(errorCode(refused.body), 'FHIR_ERR_DOC_BINARY_IN_USE');
    t.match(refused.body, new RegExp(`DocumentReference/${id}\\b`));
    const batch = await bundle('batch', [`Binary/${binaryId}`]);
    t.equal(batch.statusCode, 200);
    t.equal((batch.json() as Bundle).entry?.[0]?.response?.status?.slice(0, 3), '409', 'a batch entry as well');
    t.equal((await get(path, alice, 'application/pdf')).statusCode, 200, 'the bytes are still there');
    const both = await bundle('transaction', [`DocumentReference/${id}`, `Binary/${binaryId}`]);
    t.equal(both.statusCode, 200, `the document and its bytes in one transaction (${both.body.slice(0, 300)})`);
    t.equal((await get(path, system)).statusCode, 410);
  });

  t.test('a superseded document keeps its bytes', async (t) => {
    const old = await submit();
    await submit(undefined, [{ code: 'replaces', target: { reference: `DocumentReference/${old.id}` } }]);
    t.equal(((await get(`/fhir/DocumentReference/${old.id}`, alice)).json() as DocumentReference).status, 'superseded');
    const refused = await del(old.path);
    t.equal(refused.statusCode, 409, 'still readable, so still needed');
    t.equal((await get(old.path, alice, 'application/pdf')).statusCode, 200);
  });

  t.test('a Binary posted on its own and named by a document created over REST', async (t) => {
    const posted = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization: system, 'content-type': 'text/plain' }, payload: 'notes' });
    t.equal(posted.statusCode, 201, posted.body.slice(0, 200));
    const binaryId = String(posted.headers.location).split('/Binary/')[1]!.split('/')[0]!;
    const doc = { ...document(space.alice, undefined, 'notes'), content: [{ attachment: { contentType: 'text/plain', url: `Binary/${binaryId}` } }] };
    const created = await app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: doc });
    t.equal(created.statusCode, 201, created.body.slice(0, 300));
    const docId = (created.json() as DocumentReference).id!;
    const refused = await del(`/fhir/Binary/${binaryId}`);
    t.equal(refused.statusCode, 409);
    t.match(refused.body, new RegExp(`DocumentReference/${docId}\\b`));
    const unused = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization: system, 'content-type': 'text/plain' }, payload: 'scratch' });
    const unusedId = String(unused.headers.location).split('/Binary/')[1]!.split('/')[0]!;
    t.equal((await del(`/fhir/Binary/${unusedId}`)).statusCode, 200, 'a Binary no document names is deleted as before');
    t.equal((await del(`/fhir/Binary/${unusedId}`)).statusCode, 200, 'and deleting it again is no conflict');
  });

  t.test('Accept is negotiated by its q-values', async (t) => {
    const pdf = Buffer.from('%PDF-1.4\n% negotiated\n%%EOF\n');
    const { path } = await submit(pdf);
    /** What GET answers with this Accept: `bytes`, `resource` (the Binary as FHIR JSON) or the status. */
    const form = async (accept: string) => {
      const res = await get(path, alice, accept);
      if (res.statusCode !== 200) return String(res.statusCode);
      if (res.headers['content-type'] === 'application/pdf' && res.rawPayload.equals(pdf)) return 'bytes';
      const body = /^application\/(fhir\+)?json/.test(String(res.headers['content-type'])) ? JSON.parse(res.body) as { resourceType?: string; data?: string } : {};
      return body.resourceType === 'Binary' && Buffer.from(body.data ?? '', 'base64').equals(pdf) ? 'resource' : `unexpected ${String(res.headers['content-type'])}`;
    };
    for (const accept of [
      'application/fhir+json;q=0.1, application/pdf',
      'application/pdf;q=0.9, application/fhir+json;q=0.5',
      '*/*',
      'application/*',
      'application/fhir+json;q=0.2, */*;q=0.8',
    ]) t.equal(await form(accept), 'bytes', accept);
    for (const accept of [
      'application/pdf;q=0.1, application/fhir+json',
      'application/fhir+json, application/pdf;q=0.5',
      'application/pdf;q=0, application/fhir+json',
      'application/pdf;q=0, */*',
      'text/html;q=0.9, application/fhir+json;q=0.1',
      'application/pdf;q=0.1, application/fhir+json; fhirVersion=4.0',
    ]) t.equal(await form(accept), 'resource', accept);
    // A stored type that is no media type competes as bytes: */* still gets them.
    const odd = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { resourceType: 'Binary', contentType: 'not a type', data: Buffer.from('odd').toString('base64') } });
    t.equal(odd.statusCode, 201);
    const oddPath = `/fhir/Binary/${(odd.json() as { id: string }).id}`;
    t.equal((await get(oddPath, system, '*/*')).body, 'odd', '*/* on a Binary whose type is no media type: the bytes');
    t.equal((await get(oddPath, system, FHIR_JSON)).json().resourceType, 'Binary');
    for (const accept of ['application/pdf;q=0', 'application/pdf;q=0, text/*', 'image/png', 'application/fhir+json;q=0, application/pdf;q=0']) {
      const res = await get(path, alice, accept);
      t.equal(res.statusCode, 406, accept);
      t.equal(errorCode(res.body), 'FHIR_ERR_HTTP_NOT_ACCEPTABLE');
      t.notMatch(res.body, /negotiated/);
    }
  });
});
