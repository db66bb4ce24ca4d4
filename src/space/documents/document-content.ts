import type { FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import type { Binary, DocumentReference, Resource } from '@medplum/fhirtypes';
import { FhirError, UnprocessableError } from '../../errors.js';
import { isReadable } from '../../access/guard.js';
import { parseLocalReference } from '../../fhir/references.js';
import { mayReadBinary, securityContextOf } from './binary-access.js';
import type { StoreEngine, VersionRecord } from '../../store/engine.js';
import type { Repository, WriteCheck } from '../../store/repository.js';
import { HeldTurns } from '../../store/resource-turns.js';

/*
 * A document's content is the Binary of this server that its attachment url
 * names (ITI-65 stores it so; ITI-68 serves it): `Binary/<id>`, or one version
 * of it, `Binary/<id>/_history/<vid>`, relative or under our base. While a
 * DocumentReference that is not deleted names it, that Binary stays, and, when
 * named without a version, keeps its bytes (and their contentType): a version
 * never changes, so a document naming one leaves the Binary free to get new
 * versions. A document names only a Binary (version) of this server that
 * exists, that its writer may read, whose securityContext (through which
 * ITI-68 decides who reads the bytes) is the document or another one of its
 * patient having the same content, and whose bytes its attachment's hash and
 * size describe; an attachment url left as a `urn:uuid:`/`urn:oid:` names
 * nothing. The rules run once the policy has allowed the write, just
 * before its commit, in the turns (store/resource-turns.ts) of the Binaries
 * concerned: a deletion or a new version of a Binary and a document naming
 * it, arriving together, are judged one after the other, never both against
 * the state before the other.
 */

/** How many of the documents using a Binary are looked at (and named, when the caller may read them). */
const LOOKED_AT_MOST = 10;

/**
 * One version about to be committed, as the content rules see it. `bytes`:
 * the new content of a Binary that the commit itself stores (a JSON Patch
 * that set `data`: store/repository.ts PreparedWrite.bytes); otherwise a
 * Binary's content is its blob.
 */
export interface ContentWrite {
  record: VersionRecord;
  bytes?: Buffer;
}

/** How many attachment urls one search of `location` looks for (a Binary with many versions is looked up in several). */
const URLS_PER_SEARCH = 100;

/**
 * The DocumentReferences (not deleted, whatever their status: a superseded
 * document stays readable, ITI-68 included) whose `content.attachment.url`
 * names Binary/<id> of this server, but for those in `ignored` (ids): without
 * a version, and, when `versions` is given, as any of its versions 1 to
 * `versions`. Local attachment urls are stored absolute (document-rules.ts
 * withAbsoluteAttachments); the relative form is looked for too. Found
 * through R4's `location` (DocumentReference.content.attachment.url), then
 * checked on the stored JSON, so that only an exact match counts.
 */
export async function documentsUsingBinary(repository: Repository, binaryId: string, fhirBase: string,
  { ignored = new Set<string>(), versions = 0 }: { ignored?: ReadonlySet<string>; versions?: number } = {}): Promise<{ found: VersionRecord[]; more: boolean }> {
  const forms = (path: string) => [`${fhirBase}/${path}`, path];
  const urls = forms(`Binary/${binaryId}`);
  for (let vid = 1; vid <= versions; vid++) urls.push(...forms(`Binary/${binaryId}/_history/${vid}`));
  const names = (b: NamedBinary) => b.id === binaryId && (versions > 0 || b.version === undefined);
  const found: VersionRecord[] = [];
  let more = false;
  for (let i = 0; i < urls.length && found.length < LOOKED_AT_MOST; i += URLS_PER_SEARCH) {
    const query: Array<[string, string]> = [['location', urls.slice(i, i + URLS_PER_SEARCH).join(',')], ['_count', String(LOOKED_AT_MOST + ignored.size)]];
    const result = await repository.search(repository.parseSearch(['DocumentReference'], query, false));
    for (const record of result.matches) {
      if (!ignored.has(record.id) && !found.some((f) => f.id === record.id) && localBinaries(record, fhirBase).some(names)) found.push(record);
    }
    if (result.next !== undefined) more = true;
  }
  if (found.length > LOOKED_AT_MOST) {
    found.length = LOOKED_AT_MOST;
    more = true;
  }
  return { found, more };
}

/**
 * Refuses (409 FHIR_ERR_DOC_BINARY_IN_USE) the deletion of Binary/<id>
 * while a DocumentReference that is not deleted has it, or one of its
 * versions, as content: the document would stay, listed, with its bytes
 * gone (a deleted resource's history is no promise: GET answers 410, and
 * whoever deleted the bytes means them gone). The document goes first (a
 * PDSm metadata update cannot change its content, and a replacing
 * submission leaves the old document readable); `ignored`: the documents
 * deleted in the same commit. For a DELETE by the caller of `request` of the
 * version `record` (its current one, or the tombstone about to replace it):
 * nothing unless it is a Binary. Run once the policy has allowed the
 * deletion, in the Binary's turn (routes/resource.ts, and
 * checkContentWrite), so that whoever may not delete learns nothing of the
 * documents; those the caller may read are named, the others counted.
 */
export async function refuseDeletingUsedContent(request: FastifyRequest, record: VersionRecord, ignored?: ReadonlySet<string>): Promise<void> {
  if (record.type !== 'Binary') return;
  const used = await documentsUsingBinary(request.server.repository, record.id, request.server.config.fhirBase, { ignored, versions: record.vid });
  if (!used.found.length) return;
  throw await usedContentError(request, 'FHIR_ERR_DOC_BINARY_IN_USE', record.id, used, 'delete the document first');
}

/**
 * Refuses (409 FHIR_ERR_DOC_BINARY_IMMUTABLE) a new version of a Binary
 * that a DocumentReference (not deleted, but for `ignored`) has as content
 * without a version, when it changes the bytes or their contentType: the
 * document's hash and size would then describe other bytes, and MHD
 * documents do not change (a new document replaces one, `relatesTo`
 * replaces). A document naming a version keeps it whatever comes after. The
 * same content again (a retried PUT) is allowed; so are other changes
 * (meta), which the policy judges, and a new securityContext that still
 * places the bytes with their documents (isPlacedWith: none of this
 * server's, or one of the documents, or a document of their patient naming
 * the Binary); any other is refused (422 FHIR_ERR_DOC_CONTENT_CONTEXT), as
 * a document naming a Binary so placed is. A Binary that is new, or
 * deleted, has no document.
 */
async function refuseChangingUsedContent(request: FastifyRequest, write: ContentWrite, ignored: ReadonlySet<string>, together: ContentWrite[]): Promise<void> {
  const { engine, repository, config } = request.server;
  const current = await engine.current('Binary', write.record.id);
  if (!current || current.deleted) return;
  const used = await documentsUsingBinary(repository, current.id, config.fhirBase, { ignored });
  if (!used.found.length) return;
  const [before, after] = await Promise.all([binaryContent(engine, { record: current }), binaryContent(engine, write)]);
  if (!before || !after || before.hash !== after.hash || before.size !== after.size || before.contentType !== after.contentType) {
    throw await usedContentError(request, 'FHIR_ERR_DOC_BINARY_IMMUTABLE', current.id, used,
      'its bytes and contentType cannot change; submit a new document that replaces this one (relatesTo replaces)');
  }
  const place = (record: VersionRecord) => {
    const context = securityContextOf(record, config.fhirBase);
    return context ? `${context.type}/${context.id}` : '';
  };
  if (place(write.record) === place(current)) return;
  for (const doc of used.found) {
    if (!(await isPlacedWith(request, write.record, doc, together))) {
      throw new UnprocessableError('FHIR_ERR_DOC_CONTENT_CONTEXT',
        `Binary/${current.id} is the content of documents that are not deleted: its securityContext may name one of them, or another DocumentReference of their patient having it as content, not ${place(write.record)}`,
        { expression: ['Binary.securityContext'] });
    }
  }
}

/** The 409 telling that Binary/<id> is a document's content, naming the documents the caller may read and counting the others. */
async function usedContentError(request: FastifyRequest, code: 'FHIR_ERR_DOC_BINARY_IN_USE' | 'FHIR_ERR_DOC_BINARY_IMMUTABLE', binaryId: string,
  { found, more }: { found: VersionRecord[]; more: boolean }, remedy: string): Promise<FhirError> {
  const named: string[] = [];
  for (const record of found) if (await isReadable(request, record)) named.push(`DocumentReference/${record.id}`);
  const hidden = found.length - named.length;
  const parts = [...named, ...(hidden ? [`${hidden} document${hidden > 1 ? 's' : ''} you may not read`] : [])];
  return new FhirError(code, 409, 'conflict',
    `Binary/${binaryId} is the content of ${parts.join(', ')}${more ? ' and more' : ''}, which ${found.length > 1 || more ? 'are' : 'is'} not deleted: ${remedy}`,
    { expression: ['Binary'] });
}

/**
 * A document names, as content, only a Binary of this server that exists
 * and is not deleted (here, or written by the same commit: `together`), or an
 * existing version of one that is not its deletion, and whose bytes its
 * attachment's `size` and `hash` (SHA-1, base64), when given, describe: 422
 * otherwise. Judged on the Binaries a version names that its current one did
 * not (a metadata update of a stored document checks nothing again). Another
 * server's url is not looked at; a `urn:uuid:` or `urn:oid:` url names no
 * server's: it is a Bundle entry that the transaction did not resolve (none
 * has that fullUrl, or the Bundle was a batch, or the request a single
 * write), and the document would be stored with content no one can
 * retrieve (422 FHIR_ERR_DOC_CONTENT_MISSING).
 *
 * Whoever may write a document but may not read the Binary it names must
 * learn nothing of it (whether it exists, what its bytes hash to): such a
 * Binary is answered exactly as one that does not exist (same status, code,
 * text), hash and size given or not. MISMATCH, which tells the size and hash
 * of the bytes, and CONTEXT (isPlacedWith) are only ever said to someone who
 * may read them (mayReadContent).
 */
async function checkNamedContent(request: FastifyRequest, record: VersionRecord, together: ContentWrite[]): Promise<void> {
  const { engine, config } = request.server;
  for (const { index, url } of await newlyNamedPlaceholders(engine, record)) {
    throw new UnprocessableError('FHIR_ERR_DOC_CONTENT_MISSING',
      `DocumentReference.content[${index}].attachment.url ${url.slice(0, 120)} names no entry of this transaction: a document's content is a Binary of this server (send it first, or in the same transaction, whose entry has that fullUrl)`,
      { expression: [`DocumentReference.content[${index}].attachment.url`] });
  }
  for (const named of await newlyNamedBinaries(engine, record, config.fhirBase)) {
    const { id, version, index, attachment } = named;
    const where = `DocumentReference.content[${index}].attachment`;
    const what = version === undefined ? `Binary/${id}` : `Binary/${id}/_history/${version}`;
    const content = await namedVersion(engine, named, together);
    if (!content || content.record.deleted || !(await mayReadContent(request, content, version === undefined ? 'read' : 'vread', together))) {
      throw new UnprocessableError('FHIR_ERR_DOC_CONTENT_MISSING',
        `${where}.url names ${what}, which does not exist or is deleted (or you may not read it): a document's content is a Binary of this server (send it first, or in the same transaction)`,
        { expression: [`${where}.url`] });
    }
    if (attachment.size !== undefined || attachment.hash !== undefined) {
      const bytes = await binaryContent(engine, content);
      if (attachment.size !== undefined && attachment.size !== bytes?.size) {
        throw new UnprocessableError('FHIR_ERR_DOC_CONTENT_MISMATCH',
          `${where}.size ${String(attachment.size)} is not the size of the bytes of ${what}${bytes ? ` (${bytes.size})` : ''}`, { expression: [`${where}.size`] });
      }
      if (attachment.hash !== undefined && attachment.hash !== bytes?.hash) {
        throw new UnprocessableError('FHIR_ERR_DOC_CONTENT_MISMATCH',
          `${where}.hash is not the SHA-1 (base64) of the bytes of ${what}${bytes ? ` (${bytes.hash}, ${bytes.size} bytes)` : ''}`, { expression: [`${where}.hash`] });
      }
    }
    if (!(await isPlacedWith(request, content.record, record, together))) {
      throw new UnprocessableError('FHIR_ERR_DOC_CONTENT_CONTEXT',
        `${where}.url names ${what}, whose securityContext is neither this document nor another DocumentReference of the same patient having it as content: whoever may read that resource would read this document's bytes, and not whoever may read the document (send the bytes with the document, or give them this document as securityContext)`,
        { expression: [`${where}.url`] });
    }
  }
}

/**
 * Whether the writer of a document may read the Binary version it names, as
 * ITI-68 would judge it once this commit lands (binary-access.ts: `read`
 * for a Binary named without a version, `vread` for a version), through its
 * securityContext taken from the same commit when the commit writes it (the
 * document being written with the bytes posted for it). Bytes the same
 * commit stores (POST, PUT, or a PATCH setting `data`) came from the
 * writer: they learn nothing from a mismatch, whoever may read them
 * afterwards.
 */
async function mayReadContent(request: FastifyRequest, content: ContentWrite, interaction: 'read' | 'vread', together: ContentWrite[]): Promise<boolean> {
  const { record } = content;
  if (together.includes(content) && (content.bytes !== undefined || record.method === 'POST' || record.method === 'PUT')) return true;
  return mayReadBinary(request, interaction, record, together.map((w) => w.record));
}

/**
 * Whether a Binary version, as content of the document `doc`, is read by
 * the readers of a document having it as content (ITI-68 judges a read of
 * the bytes on the Binary's securityContext, binary-access.ts): its
 * securityContext names no resource of this server (then only system
 * clients read it), or `doc` itself, or a DocumentReference (written by the
 * same commit, or stored, not deleted, and readable by the writer) of the
 * same patient that names this Binary as its content. Anything else would
 * let the readers of another resource (another patient's document, a
 * Patient, a document that is not masked when this one is) read this
 * document's bytes, and refuse them to whoever may read this document.
 */
async function isPlacedWith(request: FastifyRequest, binary: VersionRecord, doc: VersionRecord, together: ContentWrite[]): Promise<boolean> {
  const { engine, config } = request.server;
  const context = securityContextOf(binary, config.fhirBase);
  if (!context) return true;
  if (context.type !== 'DocumentReference') return false;
  if (context.id === doc.id) return true;
  const written = together.find((w) => w.record.type === 'DocumentReference' && w.record.id === context.id)?.record;
  const proxy = written ?? await engine.current('DocumentReference', context.id);
  // A stored document the writer may not read tells them nothing: it is refused as any other.
  if (!proxy || proxy.deleted || (!written && !(await isReadable(request, proxy)))) return false;
  return samePatients(proxy.comp, doc.comp) && localBinaries(proxy, config.fhirBase).some((b) => b.id === binary.id);
}

function samePatients(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((p) => b.includes(p));
}

/**
 * The Binary version a document names: for `Binary/<id>`, the one the same
 * commit writes, else the current one (a tombstone when deleted); for
 * `Binary/<id>/_history/<vid>`, that version, written by the commit or
 * stored, while the Binary is not deleted (a deleted Binary's history is no
 * content for a new document: its deletion would have been refused with the
 * document there). Undefined when there is none (a versionId is 1, 2, ... as
 * vread reads it: `_history/02` names nothing).
 */
async function namedVersion(engine: StoreEngine, { id, version }: NamedBinary, together: ContentWrite[]): Promise<ContentWrite | undefined> {
  const latest = together.find((w) => w.record.type === 'Binary' && w.record.id === id)
    ?? (await engine.current('Binary', id).then((record) => (record ? { record } : undefined)));
  if (version === undefined || !latest) return latest;
  const vid = /^[1-9]\d{0,9}$/.test(version) ? Number(version) : 0;
  if (latest.record.deleted || vid === 0 || vid > latest.record.vid) return undefined;
  if (vid === latest.record.vid) return latest;
  const stored = await engine.version('Binary', id, vid);
  return stored ? { record: stored } : undefined;
}

/**
 * The content rules on one version among those committed with it
 * (`together`: a transaction's, or a single write's), run once the policy
 * has allowed each, in the turns contentTurns named: a Binary deleted or
 * changed while a document uses it (409; documents deleted in the same
 * commit do not count) or placed elsewhere (422), a document naming a
 * Binary (version) that is missing, that its writer may not read, that is
 * placed elsewhere (its securityContext), or that its attachment does not
 * describe, or naming an unresolved `urn:` (422).
 */
export async function checkContentWrite(request: FastifyRequest, write: ContentWrite, together: ContentWrite[]): Promise<void> {
  const { record } = write;
  if (record.type === 'Binary') {
    const ignored = new Set(together.flatMap((w) => (w.record.type === 'DocumentReference' && w.record.deleted ? [w.record.id] : [])));
    if (record.deleted) await refuseDeletingUsedContent(request, record, ignored);
    else await refuseChangingUsedContent(request, write, ignored, together);
  } else if (record.type === 'DocumentReference' && !record.deleted) {
    await checkNamedContent(request, record, together);
  }
}

/**
 * The resources (`Binary/<id>`, sorted) in whose turns a commit of `writes`
 * runs its content rules: each Binary it writes, and each Binary a document
 * it writes names anew. A deletion or a new version of a Binary takes that
 * Binary's turn too, so the two are judged one after the other.
 */
export async function contentTurns(engine: StoreEngine, writes: ContentWrite[], fhirBase: string): Promise<string[]> {
  const keys = new Set<string>();
  for (const { record } of writes) {
    if (record.type === 'Binary') keys.add(`Binary/${record.id}`);
    else if (record.type === 'DocumentReference' && !record.deleted) {
      for (const { id } of await newlyNamedBinaries(engine, record, fhirBase)) keys.add(`Binary/${id}`);
    }
  }
  return [...keys].sort();
}

/** What checks one REST write's new version: the policy's `check`, then the content rules (`next`: the resource a JSON Patch produced, whose `data` is a Binary's new bytes). */
export type ContentCheck = (policy: WriteCheck, next?: Resource) => WriteCheck;

/**
 * Runs one REST write (PUT, PATCH, create, conditional update) under the
 * content rules: `write` passes its check through the given ContentCheck.
 * The check takes the turns of the Binaries concerned other than the
 * resource being written (whose own turn the route holds, or which is new),
 * after the turns the route holds (its resource's; the conditional queue),
 * and keeps them until the write is done, committed or not: a document and a
 * deletion of its Binary cannot both pass their checks before either commits.
 */
export async function underContentRules<T>(request: FastifyRequest, write: (content: ContentCheck) => Promise<T>): Promise<T> {
  const { repository, engine, config } = request.server;
  const held = new HeldTurns(repository.turns);
  try {
    return await write((policy, next) => async (record) => {
      await policy(record);
      if (record.type !== 'Binary' && record.type !== 'DocumentReference') return;
      const content: ContentWrite = { record, bytes: patchedBytes(next) };
      const keys = (await contentTurns(engine, [content], config.fhirBase)).filter((key) => key !== `${record.type}/${record.id}`);
      await held.take(keys);
      await checkContentWrite(request, content, [content]);
    });
  } finally {
    held.release();
  }
}

/** What a Binary version holds, as a document's attachment describes it; undefined when its bytes cannot be found. */
interface BinaryContent { size: number; hash: string; contentType: unknown }

async function binaryContent(engine: StoreEngine, { record, bytes }: ContentWrite): Promise<BinaryContent | undefined> {
  const binary = JSON.parse(record.json) as Binary;
  const described = (data: Buffer) => ({ size: data.length, hash: createHash('sha1').update(data).digest('base64'), contentType: binary.contentType });
  if (bytes) return described(bytes);
  if (record.blob) {
    const blob = await engine.blobs.open(record.blob);
    if (!blob) return undefined;
    blob.stream.destroy();
    return { size: blob.info.size, hash: blob.info.sha1, contentType: binary.contentType };
  }
  // Without a blob, the bytes are the resource's own data (a Binary stored from a FHIR JSON body as it came).
  return described(Buffer.from(typeof binary.data === 'string' ? binary.data : '', 'base64'));
}

/** The bytes a JSON Patch of a Binary sets (its `data`), as the repository stores them. */
function patchedBytes(next: Resource | undefined): Buffer | undefined {
  const data = next?.resourceType === 'Binary' ? (next as Binary).data : undefined;
  return typeof data === 'string' ? Buffer.from(data, 'base64') : undefined;
}

/** A Binary of this server that a document names as content: its id, the version when the url names one, the content's index and attachment. */
interface NamedBinary { id: string; version?: string; index: number; attachment: { size?: unknown; hash?: unknown } }

/**
 * The Binaries of this server a stored DocumentReference version names as
 * content: `Binary/<id>`, or `Binary/<id>/_history/<version>` whatever the
 * version's text (one that is no versionId names nothing, and is refused).
 */
function localBinaries(record: VersionRecord, fhirBase: string): NamedBinary[] {
  const doc = JSON.parse(record.json) as DocumentReference;
  return (Array.isArray(doc.content) ? doc.content : []).flatMap((c, index) => {
    const url = c?.attachment?.url;
    const named = typeof url === 'string' ? parseLocalReference(url, fhirBase, { version: 'any' }) : undefined;
    return named?.type === 'Binary' ? [{ id: named.id, ...(named.version !== undefined ? { version: named.version } : {}), index, attachment: c.attachment }] : [];
  });
}

/** Attachment urls that stand for a Bundle entry (`urn:uuid:`, `urn:oid:`): what a transaction rewrites to the id the entry got. */
const PLACEHOLDER = /^urn:(uuid|oid):/i;

/** The placeholder attachment urls (PLACEHOLDER) of a DocumentReference version that its current version (when not deleted) does not have. */
async function newlyNamedPlaceholders(engine: StoreEngine, record: VersionRecord): Promise<Array<{ index: number; url: string }>> {
  const placeholders = (r: VersionRecord) => {
    const doc = JSON.parse(r.json) as DocumentReference;
    return (Array.isArray(doc.content) ? doc.content : []).flatMap((c, index) => {
      const url: unknown = c?.attachment?.url;
      return typeof url === 'string' && PLACEHOLDER.test(url) ? [{ index, url }] : [];
    });
  };
  const named = placeholders(record);
  if (!named.length) return named;
  const current = record.vid > 1 ? await engine.current('DocumentReference', record.id) : undefined;
  if (!current || current.deleted) return named;
  const before = new Set(placeholders(current).map((p) => p.url));
  return named.filter((p) => !before.has(p.url));
}

/** The Binaries (or versions) a DocumentReference version names that its current version (when not deleted) does not. */
async function newlyNamedBinaries(engine: StoreEngine, record: VersionRecord, fhirBase: string): Promise<NamedBinary[]> {
  const named = localBinaries(record, fhirBase);
  if (!named.length) return named;
  const current = record.vid > 1 ? await engine.current('DocumentReference', record.id) : undefined;
  if (!current || current.deleted) return named;
  const key = (b: NamedBinary) => `${b.id}/_history/${b.version ?? ''}`;
  const before = new Set(localBinaries(current, fhirBase).map(key));
  return named.filter((b) => !before.has(key(b)));
}
