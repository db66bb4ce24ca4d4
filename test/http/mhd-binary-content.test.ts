import { createHash, randomUUID } from 'node:crypto';
import t from 'tap';
import type { Binary, Bundle, BundleEntry, DocumentReference, List, OperationOutcome } from '@medplum/fhirtypes';
import { buildSpace, document, FHIR_JSON, holderBearer } from '../helpers/people.js';
import type { Space } from '../helpers/people.js';
import { provideBundle } from '../fixtures/mhd/provide-bundle.js';

/**
 * A document's bytes (the Binary its attachment names) are the document:
 * while a DocumentReference that is not deleted names them, they keep their
 * content (409 on a PUT or PATCH that changes it, REST and Bundle, after the
 * policy) and stay (409 on their DELETE); a document cannot name a local
 * Binary that does not exist or was deleted (422), and neither rule can be
 * slipped past by two requests arriving together. A transaction deleting
 * every document that uses a Binary, conditionally or by id, may delete the
 * Binary with them.
 */

const PATCH = 'application/json-patch+json';
const errorCode = (body: string) => (JSON.parse(body) as OperationOutcome).issue[0]?.details?.coding?.[0]?.code;

/** What a request's answer tells: its status and error code, or for a Bundle, those of its one entry (a batch's). */
function statusOf(res: { statusCode: number; body: string }): { status: number; code?: string } {
  const body = JSON.parse(res.body) as Bundle | OperationOutcome;
  if (body.resourceType === 'Bundle' && body.type === 'batch-response') {
    const response = body.entry![0]!.response!;
    return { status: Number(response.status!.slice(0, 3)), code: (response.outcome as OperationOutcome | undefined)?.issue[0]?.details?.coding?.[0]?.code };
  }
  return { status: res.statusCode, ...(res.statusCode >= 400 ? { code: errorCode(res.body) } : {}) };
}

/** The stored state of a document's bytes, as a system client reads them; what a refused write must leave unchanged. */
async function storedBytes(space: Space, binaryId: string) {
  const res = await space.app.inject({ url: `/fhir/Binary/${binaryId}`, headers: { authorization: await space.systemAuth(), accept: '*/*' } });
  return { status: res.statusCode, etag: res.headers.etag, contentType: res.headers['content-type'], bytes: res.rawPayload.toString('base64') };
}

/** An ITI-65 submission by the system client for alice: the document's id, its Binary's id, bytes and masterIdentifier. */
async function submit(space: Space, bytes = Buffer.from(`%PDF-1.4\n% ${randomUUID()}\n%%EOF\n`)) {
  const bundle = provideBundle(space.alice, [{ bytes, author: space.doctor }]);
  (bundle.entry[0]!.resource as List).source = { reference: space.doctor };
  const res = await space.app.inject({ method: 'POST', url: '/fhir', headers: { authorization: await space.systemAuth(), 'content-type': FHIR_JSON }, payload: bundle });
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body.slice(0, 400)}`);
  const entries = (res.json() as Bundle).entry!;
  const id = entries[1]!.response!.location!.split('/')[1]!;
  const binaryId = entries[2]!.response!.location!.split('/')[1]!;
  const masterIdentifier = (bundle.entry[1]!.resource as DocumentReference).masterIdentifier!.value!;
  return { id, binaryId, bytes, masterIdentifier };
}

async function postBinary(space: Space, text: string): Promise<string> {
  const res = await space.app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization: await space.systemAuth(), 'content-type': 'text/plain' }, payload: text });
  if (res.statusCode !== 201) throw new Error(`${res.statusCode} ${res.body.slice(0, 300)}`);
  return (res.json() as Binary).id!;
}

/** A DocumentReference of alice whose content is `url`, with the hash and size of `bytes` when given. */
function documentNaming(space: Space, url: string, bytes?: Buffer): DocumentReference {
  const attachment = { contentType: 'text/plain', url, ...(bytes ? { size: bytes.length, hash: createHash('sha1').update(bytes).digest('base64') } : {}) };
  return { ...document(space.alice, undefined, 'notes'), content: [{ attachment }] } as unknown as DocumentReference;
}

t.test('the bytes of a document that is not deleted keep their content', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const bob = await holderBearer(app, space.users.bob);
  const { id, binaryId, bytes } = await submit(space);
  const path = `/fhir/Binary/${binaryId}`;
  const before = await storedBytes(space, binaryId);
  t.equal(before.status, 200);
  t.equal(before.bytes, bytes.toString('base64'));
  const other = Buffer.from('%PDF-1.4\n% other content\n%%EOF\n');

  /** A refused write: 409 FHIR_ERR_DOC_BINARY_IMMUTABLE naming the document, and the bytes as they were. */
  const refused = async (res: { statusCode: number; body: string }, what: string, code = 'FHIR_ERR_DOC_BINARY_IMMUTABLE') => {
    t.equal(res.statusCode, 409, `${what} (${res.body.slice(0, 300)})`);
    t.match(JSON.parse(res.body), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'conflict' }] }, what);
    t.equal(errorCode(res.body), code, what);
    t.match(res.body, new RegExp(`DocumentReference/${id}\\b`), `${what}: names the document`);
    t.same(await storedBytes(space, binaryId), before, `${what}: the stored bytes, their type and version are unchanged`);
  };
  const put = (payload: string | Buffer | Record<string, unknown>, contentType: string, authorization = system, extra: Record<string, string> = {}) =>
    app.inject({ method: 'PUT', url: path, headers: { authorization, 'content-type': contentType, ...extra }, payload });
  const patch = (operations: unknown[]) => app.inject({ method: 'PATCH', url: path, headers: { authorization: system, 'content-type': PATCH }, payload: JSON.stringify(operations) });
  const bundle = (type: 'transaction' | 'batch', entry: BundleEntry[]) =>
    app.inject({ method: 'POST', url: '/fhir', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type, entry } });
  const asJson = (data: Buffer, contentType = 'application/pdf') =>
    ({ resourceType: 'Binary', id: binaryId, contentType, securityContext: { reference: `DocumentReference/${id}` }, data: data.toString('base64') });

  t.test('REST PUT and PATCH that change the content: 409', async () => {
    await refused(await put(other, 'application/pdf'), 'PUT of other raw bytes');
    await refused(await put(asJson(other), FHIR_JSON), 'PUT of a Binary resource with other data');
    await refused(await put(asJson(bytes, 'text/plain'), FHIR_JSON), 'PUT of the same bytes as another contentType');
    await refused(await put(Buffer.alloc(0), 'application/pdf'), 'PUT of no bytes at all');
    await refused(await patch([{ op: 'add', path: '/data', value: other.toString('base64') }]), 'PATCH setting /data');
    await refused(await patch([{ op: 'replace', path: '/contentType', value: 'text/html' }]), 'PATCH of contentType');
    const conditional = await app.inject({ method: 'PUT', url: `/fhir/Binary?_id=${binaryId}`, headers: { authorization: system, 'content-type': FHIR_JSON }, payload: asJson(other) });
    await refused(conditional, 'conditional PUT');
  });

  t.test('Bundle PUT and PATCH entries: the same 409', async () => {
    const putEntry: BundleEntry = { resource: asJson(other) as Binary, request: { method: 'PUT', url: `Binary/${binaryId}` } };
    const patchEntry: BundleEntry = {
      resource: { resourceType: 'Binary', contentType: PATCH, data: Buffer.from(JSON.stringify([{ op: 'add', path: '/data', value: other.toString('base64') }])).toString('base64') },
      request: { method: 'PATCH', url: `Binary/${binaryId}` },
    };
    const transaction = await bundle('transaction', [putEntry]);
    await refused(transaction, 'transaction PUT');
    t.match(JSON.parse(transaction.body), { issue: [{ expression: [/^Bundle\.entry\[0\]/] }] }, 'names the entry');
    await refused(await bundle('transaction', [patchEntry]), 'transaction PATCH');
    await refused(await bundle('transaction', [{ resource: asJson(other) as Binary, request: { method: 'PUT', url: `Binary?_id=${binaryId}` } }]), 'transaction conditional PUT');
    for (const entry of [putEntry, patchEntry]) {
      const batch = await bundle('batch', [entry]);
      t.equal(batch.statusCode, 200);
      const answer = (batch.json() as Bundle).entry![0]!.response!;
      t.equal(answer.status?.slice(0, 3), '409', `batch ${entry.request!.method}`);
      t.equal((answer.outcome as OperationOutcome).issue[0]?.details?.coding?.[0]?.code, 'FHIR_ERR_DOC_BINARY_IMMUTABLE');
      t.same(await storedBytes(space, binaryId), before, `batch ${entry.request!.method}: the bytes are unchanged`);
    }
    // A transaction that fails leaves nothing: another resource written with the refused PUT is not stored.
    const trace = randomUUID();
    const withOther = await bundle('transaction', [
      { resource: { resourceType: 'Basic', identifier: [{ system: 'urn:test', value: trace }], code: { text: 'trace' } } as never, request: { method: 'POST', url: 'Basic' } },
      putEntry,
    ]);
    await refused(withOther, 'transaction PUT with another entry');
    const traces = await app.inject({ url: `/fhir/Basic?identifier=urn:test|${trace}`, headers: { authorization: system } });
    t.equal(traces.statusCode, 200);
    t.equal((traces.json() as Bundle).entry?.length ?? 0, 0, 'the other entry was not stored');
  });

  t.test('the policy first: a caller who may not write learns nothing of the document', async () => {
    const res = await put(other, 'application/pdf', bob);
    t.equal(res.statusCode, 403, res.body.slice(0, 300));
    t.notMatch(res.body, new RegExp(id), 'the document is not named');
    t.notMatch(res.body, /FHIR_ERR_DOC_BINARY/);
    t.same(await storedBytes(space, binaryId), before);
  });

  t.test('the same content again is an idempotent retry: 200, the bytes unchanged', async () => {
    const raw = await put(bytes, 'application/pdf', system, { 'x-security-context': `DocumentReference/${id}` });
    t.equal(raw.statusCode, 200, raw.body.slice(0, 300));
    const json = await put(asJson(bytes), FHIR_JSON);
    t.equal(json.statusCode, 200, json.body.slice(0, 300));
    const metadata = await patch([{ op: 'add', path: '/meta/tag', value: [{ system: 'urn:test', code: 'reviewed' }] }]);
    t.equal(metadata.statusCode, 200, `a PATCH leaving the content alone (${metadata.body.slice(0, 200)})`);
    const after = await storedBytes(space, binaryId);
    t.equal(after.bytes, before.bytes);
    t.equal(after.contentType, before.contentType);
    const alice = await holderBearer(app, space.users.alice);
    const read = await app.inject({ url: path, headers: { authorization: alice, accept: 'application/pdf' } });
    t.equal(read.statusCode, 200, 'the patient still reads her document\'s bytes');
    t.equal(read.rawPayload.toString('base64'), bytes.toString('base64'));
  });

  t.test('new Binaries, unused ones, and the bytes of deleted documents are written as before', async () => {
    const fresh = await app.inject({ method: 'PUT', url: `/fhir/Binary/new-${randomUUID()}`, headers: { authorization: system, 'content-type': 'text/plain' }, payload: 'new' });
    t.equal(fresh.statusCode, 201, 'a PUT creating a Binary');
    const unused = await postBinary(space, 'draft');
    const changed = await app.inject({ method: 'PUT', url: `/fhir/Binary/${unused}`, headers: { authorization: system, 'content-type': 'text/plain' }, payload: 'final' });
    t.equal(changed.statusCode, 200, 'a PUT of a Binary no document names');
    t.equal((await storedBytes(space, unused)).bytes, Buffer.from('final').toString('base64'));

    const gone = await submit(space);
    t.equal((await app.inject({ method: 'DELETE', url: `/fhir/DocumentReference/${gone.id}`, headers: { authorization: system } })).statusCode, 200);
    const afterDelete = await app.inject({ method: 'PUT', url: `/fhir/Binary/${gone.binaryId}`, headers: { authorization: system, 'content-type': 'text/plain' }, payload: 'reused' });
    t.equal(afterDelete.statusCode, 200, 'once its document is deleted');

    const together = await submit(space);
    const both = await bundle('transaction', [
      { request: { method: 'DELETE', url: `DocumentReference?identifier=${encodeURIComponent(together.masterIdentifier)}` } },
      { resource: { resourceType: 'Binary', id: together.binaryId, contentType: 'text/plain', data: Buffer.from('reused').toString('base64') } as Binary, request: { method: 'PUT', url: `Binary/${together.binaryId}` } },
    ]);
    t.equal(both.statusCode, 200, `a transaction deleting the document may change its bytes (${both.body.slice(0, 300)})`);
  });
});

t.test('a document names a local Binary that exists', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const missingContent = (res: { statusCode: number; body: string }, what: string) => {
    t.equal(res.statusCode, 422, `${what} (${res.body.slice(0, 300)})`);
    t.match(JSON.parse(res.body), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing' }] }, what);
    t.equal(errorCode(res.body), 'FHIR_ERR_DOC_CONTENT_MISSING', what);
  };
  const create = (doc: DocumentReference) => app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: doc });
  const count = async () => ((await app.inject({ url: `/fhir/DocumentReference?subject=${space.alice}&_summary=count`, headers: { authorization: system } })).json() as Bundle).total;
  const documentsBefore = await count();

  const missing = `missing-${randomUUID()}`;
  missingContent(await create(documentNaming(space, `Binary/${missing}`)), 'a missing Binary');
  missingContent(await create(documentNaming(space, `http://carnet.test/fhir/Binary/${missing}`)), 'a missing Binary, absolute url');
  const deleted = await postBinary(space, 'deleted');
  t.equal((await app.inject({ method: 'DELETE', url: `/fhir/Binary/${deleted}`, headers: { authorization: system } })).statusCode, 200);
  const refused = await create(documentNaming(space, `Binary/${deleted}`));
  missingContent(refused, 'a deleted Binary');
  t.match(refused.body, new RegExp(`Binary/${deleted}`), 'names the Binary');
  const put = await app.inject({ method: 'PUT', url: `/fhir/DocumentReference/doc-${randomUUID()}`, headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { ...documentNaming(space, `Binary/${deleted}`), id: undefined } });
  t.equal(put.statusCode, 400, 'a PUT needs its id (checked first)');
  const docId = `doc-${randomUUID()}`;
  missingContent(await app.inject({ method: 'PUT', url: `/fhir/DocumentReference/${docId}`, headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { ...documentNaming(space, `Binary/${deleted}`), id: docId } }), 'a PUT creating a document');
  const transaction = await app.inject({
    method: 'POST', url: '/fhir', headers: { authorization: system, 'content-type': FHIR_JSON },
    payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: documentNaming(space, `Binary/${missing}`), request: { method: 'POST', url: 'DocumentReference' } }] },
  });
  missingContent(transaction, 'a transaction entry');
  const alive = await postBinary(space, 'alive');
  const deletedTogether = await app.inject({
    method: 'POST', url: '/fhir', headers: { authorization: system, 'content-type': FHIR_JSON },
    payload: { resourceType: 'Bundle', type: 'transaction', entry: [
      { request: { method: 'DELETE', url: `Binary/${alive}` } },
      { resource: documentNaming(space, `Binary/${alive}`), request: { method: 'POST', url: 'DocumentReference' } },
    ] },
  });
  missingContent(deletedTogether, 'a transaction deleting the Binary its document names');
  t.equal((await storedBytes(space, alive)).status, 200, 'and the Binary is still there');
  t.equal(await count(), documentsBefore, 'no document was stored');

  const created = await create(documentNaming(space, `Binary/${alive}`));
  t.equal(created.statusCode, 201, 'a Binary that exists');
  t.equal((await create(documentNaming(space, 'http://example.org/doc.txt'))).statusCode, 201, 'another server\'s url is not checked');
});

/**
 * Requests that arrive together are fired together (Promise.all), many
 * times, and the invariant is checked once they have all finished, whatever
 * order they ran in.
 */
t.test('a document and the deletion or replacement of its bytes, arriving together', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const send = (method: string, url: string, payload?: unknown, contentType = FHIR_JSON) =>
    app.inject({ method: method as 'POST', url, headers: { authorization: system, ...(payload !== undefined ? { 'content-type': contentType } : {}) }, ...(payload !== undefined ? { payload: payload as string } : {}) });

  t.test('no live document is left naming a deleted Binary', async (t) => {
    const PAIRS = 60;
    const pairs = await Promise.all(Array.from({ length: PAIRS }, async (_, i) => ({ i, binaryId: await postBinary(space, `pair ${i}`) })));
    const outcomes = await Promise.all(pairs.map(async ({ i, binaryId }) => {
      const doc = documentNaming(space, `Binary/${binaryId}`);
      const docId = `race-${i}-${randomUUID()}`;
      // Each kind of document write against each kind of Binary deletion, in both orders of arrival.
      const writeDocument = [
        () => send('POST', '/fhir/DocumentReference', doc),
        () => send('PUT', `/fhir/DocumentReference/${docId}`, { ...doc, id: docId }),
        () => send('POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: doc, request: { method: 'POST', url: 'DocumentReference' } }] }),
      ][i % 3]!;
      const deleteBinary = [
        () => send('DELETE', `/fhir/Binary/${binaryId}`),
        () => send('POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: `Binary/${binaryId}` } }] }),
        () => send('DELETE', `/fhir/Binary?_id=${binaryId}`),
        () => send('POST', '/fhir', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'DELETE', url: `Binary/${binaryId}` } }] }),
      ][Math.floor(i / 3) % 4]!;
      const [written, deleted] = i % 2
        ? await Promise.all([writeDocument(), deleteBinary()])
        : await Promise.all([deleteBinary(), writeDocument()]).then(([d, w]) => [w, d] as const);
      return { binaryId, written: statusOf(written), deleted: statusOf(deleted) };
    }));
    let documentsFirst = 0;
    for (const o of outcomes) {
      t.ok(o.written.status < 300 || (o.written.status === 422 && o.written.code === 'FHIR_ERR_DOC_CONTENT_MISSING'), `the document: ${o.written.status} ${o.written.code ?? ''}`);
      t.ok(o.deleted.status < 300 || (o.deleted.status === 409 && o.deleted.code === 'FHIR_ERR_DOC_BINARY_IN_USE'), `the deletion: ${o.deleted.status} ${o.deleted.code ?? ''}`);
      const binary = (await storedBytes(space, o.binaryId)).status;
      if (o.written.status < 300) {
        documentsFirst++;
        t.equal(binary, 200, 'a document was stored: its Binary was not deleted');
        t.equal(o.deleted.status, 409, 'and the deletion was refused');
      } else {
        t.ok(o.deleted.status < 300, 'the document was refused: the Binary had been deleted');
        t.equal(binary, 410);
      }
    }
    t.comment(`documents stored before the deletion: ${documentsFirst} of ${PAIRS}`);
    // The invariant, over everything stored: every live document's local Binary is live.
    const search = await send('GET', `/fhir/DocumentReference?subject=${space.alice}&_count=1000`);
    for (const e of (search.json() as Bundle).entry ?? []) {
      const url = (e.resource as DocumentReference).content[0]!.attachment.url!;
      if (!url.startsWith('http://carnet.test/fhir/Binary/')) continue;
      t.equal((await storedBytes(space, url.split('/').pop()!)).status, 200, `${url} of a live document is live`);
    }
  });

  t.test('no live document is left whose bytes were replaced under it', async (t) => {
    const PAIRS = 40;
    const original = (i: number) => Buffer.from(`original ${i}`);
    const pairs = await Promise.all(Array.from({ length: PAIRS }, async (_, i) => ({ i, binaryId: await postBinary(space, original(i).toString()) })));
    await Promise.all(pairs.map(async ({ i, binaryId }) => {
      // The document's hash and size describe the original bytes.
      const doc = documentNaming(space, `Binary/${binaryId}`, original(i));
      const replaced = Buffer.from(`replaced ${i}`);
      const replace = i % 2
        ? () => send('PUT', `/fhir/Binary/${binaryId}`, replaced, 'text/plain')
        : () => send('POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Binary', id: binaryId, contentType: 'text/plain', data: replaced.toString('base64') }, request: { method: 'PUT', url: `Binary/${binaryId}` } }] });
      const [written, replacement] = (await Promise.all([send('POST', '/fhir/DocumentReference', doc), replace()])).map(statusOf);
      const stored = await storedBytes(space, binaryId);
      if (written!.status < 300) {
        t.equal(replacement!.status, 409, 'a document was stored: the replacement was refused');
        t.equal(replacement!.code, 'FHIR_ERR_DOC_BINARY_IMMUTABLE');
        t.equal(stored.bytes, original(i).toString('base64'), 'the bytes the document describes');
      } else {
        t.equal(written!.status, 422, 'the document was refused: its hash and size describe bytes that were replaced');
        t.equal(written!.code, 'FHIR_ERR_DOC_CONTENT_MISMATCH');
        t.ok(replacement!.status < 300);
        t.equal(stored.bytes, replaced.toString('base64'));
      }
    }));
  });
});

t.test('a transaction may delete a Binary with every document that uses it, deleted by id or conditionally', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const transaction = (entry: BundleEntry[]) =>
    app.inject({ method: 'POST', url: '/fhir', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'transaction', entry } });
  const del = (url: string): BundleEntry => ({ request: { method: 'DELETE', url } });
  const status = async (url: string) => (await app.inject({ url, headers: { authorization: system, accept: FHIR_JSON } })).statusCode;

  const one = await submit(space);
  const both = await transaction([del(`DocumentReference?_id=${one.id}`), del(`Binary/${one.binaryId}`)]);
  t.equal(both.statusCode, 200, `a conditional delete of the document and its Binary (${both.body.slice(0, 300)})`);
  t.equal(await status(`/fhir/DocumentReference/${one.id}`), 410);
  t.equal(await status(`/fhir/Binary/${one.binaryId}`), 410);

  // Two documents use one Binary: the ITI-65 one and one created over REST naming it.
  const shared = await submit(space);
  const second = await app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: documentNaming(space, `Binary/${shared.binaryId}`) });
  t.equal(second.statusCode, 201, second.body.slice(0, 300));
  const secondId = (second.json() as DocumentReference).id!;
  const unrelated = await submit(space);
  const before = await storedBytes(space, shared.binaryId);

  for (const [what, entries] of [
    ['one of its two documents', [del(`DocumentReference?identifier=${encodeURIComponent(shared.masterIdentifier)}`), del(`Binary/${shared.binaryId}`)]],
    ['another document', [del(`DocumentReference?_id=${unrelated.id}`), del(`Binary/${shared.binaryId}`)]],
  ] as const) {
    const refused = await transaction([...entries]);
    t.equal(refused.statusCode, 409, `deleting ${what} with the Binary (${refused.body.slice(0, 300)})`);
    t.equal(errorCode(refused.body), 'FHIR_ERR_DOC_BINARY_IN_USE');
    t.match(refused.body, new RegExp(`DocumentReference/${secondId}\\b`), 'names the document left');
    t.match(JSON.parse(refused.body), { issue: [{ expression: [/^Bundle\.entry\[1\]/] }] }, 'names the Binary\'s entry');
    t.same(await storedBytes(space, shared.binaryId), before, 'the bytes are still there');
    for (const id of [shared.id, secondId, unrelated.id]) t.equal(await status(`/fhir/DocumentReference/${id}`), 200, `nothing deleted: DocumentReference/${id}`);
  }

  const all = await transaction([del(`DocumentReference/${secondId}`), del(`DocumentReference?identifier=${encodeURIComponent(shared.masterIdentifier)}`), del(`Binary/${shared.binaryId}`)]);
  t.equal(all.statusCode, 200, `every document using it, by id and conditionally (${all.body.slice(0, 300)})`);
  for (const url of [`/fhir/DocumentReference/${secondId}`, `/fhir/DocumentReference/${shared.id}`, `/fhir/Binary/${shared.binaryId}`]) t.equal(await status(url), 410, url);
  t.equal(await status(`/fhir/DocumentReference/${unrelated.id}`), 200);
});
