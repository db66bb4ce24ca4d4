import { createHash, randomUUID } from 'node:crypto';
import t from 'tap';
import type { Binary, Bundle, BundleEntry, DocumentReference, OperationOutcome } from '@medplum/fhirtypes';
import { buildSpace, document, FHIR_JSON, holderBearer } from '../helpers/people.js';
import type { Space } from '../helpers/people.js';

/**
 * A document may name one version of a local Binary as its content
 * (`Binary/<id>/_history/<vid>`, relative or under our base). That version
 * must exist and not be a deletion, on a Binary that is not deleted (422
 * FHIR_ERR_DOC_CONTENT_MISSING), and its bytes must be those the document's
 * size and hash describe (422 FHIR_ERR_DOC_CONTENT_MISMATCH). A version never
 * changes: the Binary may get new versions under such a document, and ITI-68
 * on the document's url keeps answering the named bytes. The Binary itself
 * cannot be deleted while the document is not (409
 * FHIR_ERR_DOC_BINARY_IN_USE), as for a document naming it without a version.
 */

const BASE = 'http://carnet.test/fhir';
const PATCH = 'application/json-patch+json';
const errorCode = (body: string) => (JSON.parse(body) as Partial<OperationOutcome>).issue?.[0]?.details?.coding?.[0]?.code;
const sha1 = (bytes: Buffer) => createHash('sha1').update(bytes).digest('base64');

type Answer = { statusCode: number; body: string };

/** A Binary placed by its securityContext in the space of the document `docId` (which may not exist yet), with `versions` as its successive bytes. */
async function binaryWithVersions(space: Space, docId: string, versions: Buffer[]): Promise<string> {
  const id = `bin-${randomUUID()}`;
  for (const [i, bytes] of versions.entries()) {
    const res = await space.app.inject({
      method: 'PUT', url: `/fhir/Binary/${id}`, headers: { authorization: await space.systemAuth(), 'content-type': FHIR_JSON },
      payload: { resourceType: 'Binary', id, contentType: 'text/plain', securityContext: { reference: `DocumentReference/${docId}` }, data: bytes.toString('base64') },
    });
    if (res.statusCode !== (i === 0 ? 201 : 200)) throw new Error(`${res.statusCode} ${res.body.slice(0, 300)}`);
  }
  return id;
}

/** A DocumentReference of alice, with id `id`, whose content is `url`, described by `bytes` when given. */
function documentNaming(space: Space, id: string, url: string, bytes?: Buffer): DocumentReference {
  const attachment = { contentType: 'text/plain', url, ...(bytes ? { size: bytes.length, hash: sha1(bytes) } : {}) };
  return { ...document(space.alice, undefined, 'versioned'), id, content: [{ attachment }] } as unknown as DocumentReference;
}

t.test('a document naming one version of a Binary', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const alice = await holderBearer(app, space.users.alice);
  const put = (doc: DocumentReference) =>
    app.inject({ method: 'PUT', url: `/fhir/DocumentReference/${doc.id}`, headers: { authorization: system, 'content-type': FHIR_JSON }, payload: doc });
  const refused = (res: Answer, code: string, what: string) => {
    t.equal(res.statusCode, 422, `${what} (${res.body.slice(0, 300)})`);
    t.equal(errorCode(res.body), code, what);
  };
  const first = Buffer.from('first version\n');
  const second = Buffer.from('second version, longer\n');

  t.test('the named version must exist, and its bytes be those the document describes', async (t) => {
    const docId = `doc-${randomUUID()}`;
    const binaryId = await binaryWithVersions(space, docId, [first, second]);
    refused(await put(documentNaming(space, docId, `Binary/${binaryId}/_history/1`, second)), 'FHIR_ERR_DOC_CONTENT_MISMATCH', 'the hash and size of another version');
    const mismatch = await put(documentNaming(space, docId, `${BASE}/Binary/${binaryId}/_history/2`, first));
    refused(mismatch, 'FHIR_ERR_DOC_CONTENT_MISMATCH', 'absolute url, the bytes of version 1');
    t.match(mismatch.body, `Binary/${binaryId}/_history/2`, 'names the version');
    for (const version of ['3', '0', '02', 'abc']) {
      const res = await put(documentNaming(space, docId, `Binary/${binaryId}/_history/${version}`));
      refused(res, 'FHIR_ERR_DOC_CONTENT_MISSING', `version ${version}, which is not one of the Binary's`);
      t.match(res.body, `Binary/${binaryId}/_history/${version}`, 'names the url');
    }
    refused(await put(documentNaming(space, docId, `${BASE}/Binary/missing-${randomUUID()}/_history/1`)), 'FHIR_ERR_DOC_CONTENT_MISSING', 'a version of a Binary that does not exist');
    t.equal((await app.inject({ url: `/fhir/DocumentReference/${docId}`, headers: { authorization: system } })).statusCode, 404, 'nothing was stored');

    const stored = await put(documentNaming(space, docId, `Binary/${binaryId}/_history/1`, first));
    t.equal(stored.statusCode, 201, stored.body.slice(0, 300));
    const url = (stored.json() as DocumentReference).content[0]!.attachment.url;
    t.equal(url, `${BASE}/Binary/${binaryId}/_history/1`, 'stored absolute, so that ITI-67 results work for ITI-68 as they are');
    const found = await app.inject({ url: `/fhir/DocumentReference?patient=${space.alice}&_id=${docId}`, headers: { authorization: alice } });
    t.equal(((found.json() as Bundle).entry?.[0]?.resource as DocumentReference | undefined)?.content[0]!.attachment.url, url, 'as ITI-67 finds it');
    const other = await put(documentNaming(space, `doc-${randomUUID()}`, `${BASE}/Binary/${binaryId}/_history/2`, second));
    t.equal(other.statusCode, 201, `an absolute url naming the current version (${other.body.slice(0, 200)})`);
  });

  t.test('a deletion is no version, and a deleted Binary has no version to name', async (t) => {
    const docId = `doc-${randomUUID()}`;
    const binaryId = await binaryWithVersions(space, docId, [first]);
    t.equal((await app.inject({ method: 'DELETE', url: `/fhir/Binary/${binaryId}`, headers: { authorization: system } })).statusCode, 200);
    refused(await put(documentNaming(space, docId, `Binary/${binaryId}/_history/2`)), 'FHIR_ERR_DOC_CONTENT_MISSING', 'the version that deleted it');
    refused(await put(documentNaming(space, docId, `Binary/${binaryId}/_history/1`, first)), 'FHIR_ERR_DOC_CONTENT_MISSING', 'the version before its deletion');
    const alive = await binaryWithVersions(space, docId, [first]);
    const together = await app.inject({
      method: 'POST', url: '/fhir', headers: { authorization: system, 'content-type': FHIR_JSON },
      payload: { resourceType: 'Bundle', type: 'transaction', entry: [
        { request: { method: 'DELETE', url: `Binary/${alive}` } },
        { resource: documentNaming(space, docId, `Binary/${alive}/_history/1`, first), request: { method: 'PUT', url: `DocumentReference/${docId}` } },
      ] },
    });
    refused(together, 'FHIR_ERR_DOC_CONTENT_MISSING', 'a transaction deleting the Binary whose version its document names');
  });

  t.test('the Binary may change under the document, which keeps its bytes', async (t) => {
    const docId = `doc-${randomUUID()}`;
    const binaryId = await binaryWithVersions(space, docId, [first]);
    t.equal((await put(documentNaming(space, docId, `Binary/${binaryId}/_history/1`, first))).statusCode, 201);
    const replaced = await app.inject({ method: 'PUT', url: `/fhir/Binary/${binaryId}`, headers: { authorization: system, 'content-type': 'text/plain' }, payload: 'replaced' });
    t.equal(replaced.statusCode, 200, `a PUT of other bytes (${replaced.body.slice(0, 300)})`);
    const patched = await app.inject({
      method: 'PATCH', url: `/fhir/Binary/${binaryId}`, headers: { authorization: system, 'content-type': PATCH },
      payload: JSON.stringify([{ op: 'add', path: '/data', value: Buffer.from('patched').toString('base64') }, { op: 'add', path: '/securityContext', value: { reference: `DocumentReference/${docId}` } }]),
    });
    t.equal(patched.statusCode, 200, `a PATCH of /data (${patched.body.slice(0, 300)})`);
    const doc = (await app.inject({ url: `/fhir/DocumentReference/${docId}`, headers: { authorization: alice } })).json() as DocumentReference;
    const content = await app.inject({ url: new URL(doc.content[0]!.attachment.url!).pathname, headers: { authorization: alice, accept: 'text/plain' } });
    t.equal(content.statusCode, 200, 'ITI-68 on the document\'s url, by the patient');
    t.equal(content.body, first.toString(), 'the bytes the document describes');
    const current = await app.inject({ url: `/fhir/Binary/${binaryId}`, headers: { authorization: alice, accept: 'text/plain' } });
    t.equal(current.body, 'patched', 'while the Binary itself has moved on');

    // A document naming the same Binary without a version still pins its bytes.
    const pinning = await app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { ...documentNaming(space, 'x', `Binary/${binaryId}`), id: undefined } });
    t.equal(pinning.statusCode, 201, pinning.body.slice(0, 300));
    const pinned = await app.inject({ method: 'PUT', url: `/fhir/Binary/${binaryId}`, headers: { authorization: system, 'content-type': 'text/plain' }, payload: 'again' });
    t.equal(pinned.statusCode, 409);
    t.equal(errorCode(pinned.body), 'FHIR_ERR_DOC_BINARY_IMMUTABLE');
    t.match(pinned.body, `DocumentReference/${(pinning.json() as DocumentReference).id}`, 'names the document that uses the Binary itself');
    t.notMatch(pinned.body, docId, 'not the one naming a version');
  });

  t.test('a metadata update of such a document checks nothing again', async (t) => {
    const docId = `doc-${randomUUID()}`;
    const binaryId = await binaryWithVersions(space, docId, [first]);
    t.equal((await put(documentNaming(space, docId, `Binary/${binaryId}/_history/1`, first))).statusCode, 201);
    await app.inject({ method: 'PUT', url: `/fhir/Binary/${binaryId}`, headers: { authorization: system, 'content-type': 'text/plain' }, payload: 'moved on' });
    const patched = await app.inject({
      method: 'PATCH', url: `/fhir/DocumentReference/${docId}`, headers: { authorization: system, 'content-type': PATCH },
      payload: JSON.stringify([{ op: 'replace', path: '/status', value: 'superseded' }]),
    });
    t.equal(patched.statusCode, 200, patched.body.slice(0, 300));
  });

  t.test('the Binary stays while a document names one of its versions', async (t) => {
    const docId = `doc-${randomUUID()}`;
    const binaryId = await binaryWithVersions(space, docId, [first, second]);
    t.equal((await put(documentNaming(space, docId, `Binary/${binaryId}/_history/1`, first))).statusCode, 201);
    const inUse = (res: Answer, what: string) => {
      t.equal(res.statusCode, 409, `${what} (${res.body.slice(0, 300)})`);
      t.equal(errorCode(res.body), 'FHIR_ERR_DOC_BINARY_IN_USE', what);
      t.match(res.body, `DocumentReference/${docId}`, `${what}: names the document`);
    };
    inUse(await app.inject({ method: 'DELETE', url: `/fhir/Binary/${binaryId}`, headers: { authorization: system } }), 'DELETE');
    inUse(await app.inject({ method: 'DELETE', url: `/fhir/Binary?_id=${binaryId}`, headers: { authorization: system } }), 'conditional DELETE');
    const transaction = (entry: BundleEntry[]) =>
      app.inject({ method: 'POST', url: '/fhir', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'transaction', entry } });
    inUse(await transaction([{ request: { method: 'DELETE', url: `Binary/${binaryId}` } }]), 'transaction DELETE');
    const bytes = await app.inject({ url: `/fhir/Binary/${binaryId}/_history/1`, headers: { authorization: alice, accept: 'text/plain' } });
    t.equal(bytes.body, first.toString(), 'the document\'s bytes are still served');

    const both = await transaction([{ request: { method: 'DELETE', url: `DocumentReference/${docId}` } }, { request: { method: 'DELETE', url: `Binary/${binaryId}` } }]);
    t.equal(both.statusCode, 200, `with the document, in one transaction (${both.body.slice(0, 300)})`);
  });

  t.test('a transaction may name the version it writes', async (t) => {
    const docId = `doc-${randomUUID()}`;
    const binaryId = await binaryWithVersions(space, docId, [first]);
    const entries = (described: Buffer): BundleEntry[] => [
      { resource: { resourceType: 'Binary', id: binaryId, contentType: 'text/plain', securityContext: { reference: `DocumentReference/${docId}` }, data: second.toString('base64') } as Binary, request: { method: 'PUT', url: `Binary/${binaryId}` } },
      { resource: documentNaming(space, docId, `Binary/${binaryId}/_history/2`, described), request: { method: 'PUT', url: `DocumentReference/${docId}` } },
    ];
    const send = (described: Buffer) => app.inject({ method: 'POST', url: '/fhir', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'transaction', entry: entries(described) } });
    refused(await send(first), 'FHIR_ERR_DOC_CONTENT_MISMATCH', 'version 2 described by the bytes of version 1');
    const ok = await send(second);
    t.equal(ok.statusCode, 200, ok.body.slice(0, 300));
  });

  /** As mhd-binary-content.test.ts does for unversioned urls: requests fired together, the invariant checked once all are done. */
  t.test('a document naming a version and the deletion of its Binary, arriving together', async (t) => {
    const PAIRS = 24;
    const outcomes = await Promise.all(Array.from({ length: PAIRS }, async (_, i) => {
      const docId = `race-${i}-${randomUUID()}`;
      const binaryId = await binaryWithVersions(space, docId, [first, second]);
      const write = () => put(documentNaming(space, docId, `Binary/${binaryId}/_history/1`, first));
      const remove = () => app.inject({ method: 'DELETE', url: `/fhir/Binary/${binaryId}`, headers: { authorization: system } });
      const [written, deleted] = i % 2 ? await Promise.all([write(), remove()]) : await Promise.all([remove(), write()]).then(([d, w]) => [w, d] as const);
      return { written, deleted };
    }));
    for (const { written, deleted } of outcomes) {
      if (written.statusCode < 300) {
        t.equal(deleted.statusCode, 409, 'the document was stored: the deletion was refused');
      } else {
        t.equal(errorCode(written.body), 'FHIR_ERR_DOC_CONTENT_MISSING', 'the document was refused: the Binary had been deleted');
        t.equal(deleted.statusCode, 200);
      }
    }
  });
});
