import type { FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import type { Binary, DocumentReference, Resource } from '@medplum/fhirtypes';
import { FhirError, UnprocessableError } from '../../errors.js';
import { isReadable } from '../../access/guard.js';
import { parseLocalReference } from '../../fhir/references.js';
import type { StoreEngine, VersionRecord } from '../../store/engine.js';
import type { Repository, WriteCheck } from '../../store/repository.js';
import type { ResourceTurns } from '../../store/resource-turns.js';

/*
 * A document's content is the Binary of this server that its attachment url
 * names (ITI-65 stores it so; ITI-68 serves it). While a DocumentReference
 * that is not deleted names it, that Binary keeps its bytes (and their
 * contentType) and stays; a document names only a local Binary that exists
 * and whose bytes its attachment's hash and size describe. The rules run once
 * the policy has allowed the write, just before its commit, in the turns
 * (store/resource-turns.ts) of the Binaries concerned: a deletion or a new
 * version of a Binary and a document naming it, arriving together, are
 * judged one after the other, never both against the state before the other.
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

/**
 * The DocumentReferences (not deleted, whatever their status: a superseded
 * document stays readable, ITI-68 included) whose `content.attachment.url`
 * names Binary/<id> of this server, but for those in `ignored` (ids). Local
 * attachment urls are stored absolute (document-rules.ts
 * withAbsoluteAttachments); the relative form is looked for too. Found
 * through R4's `location` (DocumentReference.content.attachment.url), then
 * checked on the stored JSON, so that only an exact match counts.
 */
export async function documentsUsingBinary(repository: Repository, binaryId: string, fhirBase: string, ignored: ReadonlySet<string> = new Set()): Promise<{ found: VersionRecord[]; more: boolean }> {
  const urls = [`${fhirBase}/Binary/${binaryId}`, `Binary/${binaryId}`];
  const query: Array<[string, string]> = [['location', urls.join(',')], ['_count', String(LOOKED_AT_MOST + ignored.size)]];
  const result = await repository.search(repository.parseSearch(['DocumentReference'], query, false));
  const found = result.matches.filter((record) => !ignored.has(record.id) && localBinaries(record, fhirBase).some((b) => b.id === binaryId));
  return { found, more: result.next !== undefined };
}

/**
 * Refuses (409 FHIR_ERR_DOC_BINARY_IN_USE) the deletion of Binary/<id>
 * while a DocumentReference that is not deleted has it as content: the
 * document would stay, listed and readable, with its bytes gone. The document
 * goes first (a PDSm metadata update cannot change its content, and a
 * replacing submission leaves the old document readable); `ignored`: the
 * documents deleted in the same commit. For a DELETE by the caller of
 * `request` of the version `record` (its current one, or the tombstone
 * about to replace it): nothing unless it is a Binary. Run once the policy
 * has allowed the deletion, in the Binary's turn (routes/resource.ts, and
 * checkContentWrite), so that whoever may not delete learns nothing of the
 * documents; those the caller may read are named, the others counted.
 */
export async function refuseDeletingUsedContent(request: FastifyRequest, record: VersionRecord, ignored?: ReadonlySet<string>): Promise<void> {
  if (record.type !== 'Binary') return;
  const used = await documentsUsingBinary(request.server.repository, record.id, request.server.config.fhirBase, ignored);
  if (!used.found.length) return;
  throw await usedContentError(request, 'FHIR_ERR_DOC_BINARY_IN_USE', record.id, used, 'delete the document first');
}

/**
 * Refuses (409 FHIR_ERR_DOC_BINARY_IMMUTABLE) a new version of a Binary
 * that a DocumentReference (not deleted, but for `ignored`) has as content,
 * when it changes the bytes or their contentType: the document's hash and
 * size would then describe other bytes, and MHD documents do not change (a
 * new document replaces one, `relatesTo` replaces). The same content again
 * (a retried PUT) is allowed; so are other changes (securityContext, meta),
 * which the policy judges. A Binary that is new, or deleted, has no document.
 */
async function refuseChangingUsedContent(request: FastifyRequest, write: ContentWrite, ignored: ReadonlySet<string>): Promise<void> {
  const { engine, repository, config } = request.server;
  const current = await engine.current('Binary', write.record.id);
  if (!current || current.deleted) return;
  const used = await documentsUsingBinary(repository, current.id, config.fhirBase, ignored);
  if (!used.found.length) return;
  const [before, after] = await Promise.all([binaryContent(engine, { record: current }), binaryContent(engine, write)]);
  if (before && after && before.hash === after.hash && before.size === after.size && before.contentType === after.contentType) return;
  throw await usedContentError(request, 'FHIR_ERR_DOC_BINARY_IMMUTABLE', current.id, used,
    'its bytes and contentType cannot change; submit a new document that replaces this one (relatesTo replaces)');
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
 * and is not deleted (here, or written by the same commit: `together`), and
 * whose bytes its attachment's `size` and `hash` (SHA-1, base64), when
 * given, describe: 422 otherwise. Judged on the Binaries a version names that
 * its current one did not (a metadata update of a stored document checks
 * nothing again). Another server's url is not looked at.
 */
async function checkNamedContent(request: FastifyRequest, record: VersionRecord, together: ContentWrite[]): Promise<void> {
  const { engine, config } = request.server;
  for (const { id, index, attachment } of await newlyNamedBinaries(engine, record, config.fhirBase)) {
    const where = `DocumentReference.content[${index}].attachment`;
    const written = together.find((w) => w.record.type === 'Binary' && w.record.id === id);
    const current = written ?? (await engine.current('Binary', id).then((r) => (r ? { record: r } : undefined)));
    if (!current || current.record.deleted) {
      throw new UnprocessableError('FHIR_ERR_DOC_CONTENT_MISSING',
        `${where}.url names Binary/${id}, which does not exist or is deleted: a document's content is a Binary of this server (send it first, or in the same transaction)`,
        { expression: [`${where}.url`] });
    }
    if (attachment.size === undefined && attachment.hash === undefined) continue;
    const content = await binaryContent(engine, current);
    if (attachment.size !== undefined && attachment.size !== content?.size) {
      throw new UnprocessableError('FHIR_ERR_DOC_CONTENT_MISMATCH', `${where}.size ${String(attachment.size)} is not the size of the bytes of Binary/${id}`, { expression: [`${where}.size`] });
    }
    if (attachment.hash !== undefined && attachment.hash !== content?.hash) {
      throw new UnprocessableError('FHIR_ERR_DOC_CONTENT_MISMATCH', `${where}.hash is not the SHA-1 (base64) of the bytes of Binary/${id}`, { expression: [`${where}.hash`] });
    }
  }
}

/**
 * The content rules on one version among those committed with it
 * (`together`: a transaction's, or a single write's), run once the policy
 * has allowed each, in the turns contentTurns named: a Binary deleted or
 * changed while a document uses it (409; documents deleted in the same
 * commit do not count), a document naming a Binary that is missing or
 * that its attachment does not describe (422).
 */
export async function checkContentWrite(request: FastifyRequest, write: ContentWrite, together: ContentWrite[]): Promise<void> {
  const { record } = write;
  if (record.type === 'Binary') {
    const ignored = new Set(together.flatMap((w) => (w.record.type === 'DocumentReference' && w.record.deleted ? [w.record.id] : [])));
    if (record.deleted) await refuseDeletingUsedContent(request, record, ignored);
    else await refuseChangingUsedContent(request, write, ignored);
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

/**
 * Turns taken from within a write and held until it is done (ResourceTurns
 * gives a turn for the length of a callback; the commit happens after the
 * check that takes these returns). Taken in sorted order, as contentTurns
 * gives them, so that two writes never wait for each other in a circle.
 */
class HeldTurns {
  private keys: string[] = [];
  private readonly releases: Array<() => void> = [];
  constructor(private readonly turns: ResourceTurns) {}

  async take(keys: string[]): Promise<void> {
    // A write redone (after a version conflict) checks again: the same turns are already held.
    if (keys.length === this.keys.length && keys.every((key, i) => key === this.keys[i])) return;
    this.release();
    for (const key of keys) {
      await new Promise<void>((entered) => {
        void this.turns.run(key, () => new Promise<void>((done) => {
          this.releases.push(done);
          entered();
        }));
      });
    }
    this.keys = keys;
  }

  release(): void {
    for (const done of this.releases.splice(0)) done();
    this.keys = [];
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

interface NamedBinary { id: string; index: number; attachment: { size?: unknown; hash?: unknown } }

/** The Binaries of this server a stored DocumentReference version names as content (unversioned urls), with the content's index and attachment. */
function localBinaries(record: VersionRecord, fhirBase: string): NamedBinary[] {
  const doc = JSON.parse(record.json) as DocumentReference;
  return (Array.isArray(doc.content) ? doc.content : []).flatMap((c, index) => {
    const url = c?.attachment?.url;
    const named = typeof url === 'string' ? parseLocalReference(url, fhirBase) : undefined;
    return named?.type === 'Binary' ? [{ id: named.id, index, attachment: c.attachment }] : [];
  });
}

/** The Binaries a DocumentReference version names that its current version (when not deleted) does not. */
async function newlyNamedBinaries(engine: StoreEngine, record: VersionRecord, fhirBase: string): Promise<NamedBinary[]> {
  const named = localBinaries(record, fhirBase);
  if (!named.length) return named;
  const current = record.vid > 1 ? await engine.current('DocumentReference', record.id) : undefined;
  if (!current || current.deleted) return named;
  const before = new Set(localBinaries(current, fhirBase).map((b) => b.id));
  return named.filter((b) => !before.has(b.id));
}
