import type { FastifyRequest } from 'fastify';
import type { Bundle, DocumentReference } from '@medplum/fhirtypes';
import { FhirError } from '../../errors.js';
import { isReadable } from '../../access/guard.js';
import { parseLocalReference } from '../../fhir/references.js';
import type { VersionRecord } from '../../store/engine.js';
import type { Repository } from '../../store/repository.js';

/** How many of the documents using a Binary are looked at (and named, when the caller may read them). */
const LOOKED_AT_MOST = 10;

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
  const found = result.matches.filter((record) => !ignored.has(record.id) && namesBinary(record, binaryId, fhirBase));
  return { found, more: result.next !== undefined };
}

/**
 * Refuses (409) the deletion of Binary/<id> while a DocumentReference that is
 * not deleted has it as content: the document would stay, listed and
 * readable, with its bytes gone. The document goes first (a PDSm metadata
 * update cannot change its content, and a replacing submission leaves the old
 * document readable). `mayName` tells which documents the answer may name;
 * the others are only counted. Call it once the policy has allowed the
 * deletion, so that whoever may not delete learns nothing of the documents.
 */
async function refuseDeletingDocumentContent(
  repository: Repository, binaryId: string, fhirBase: string,
  mayName: (document: VersionRecord) => Promise<boolean>, ignored?: ReadonlySet<string>,
): Promise<void> {
  const { found, more } = await documentsUsingBinary(repository, binaryId, fhirBase, ignored);
  if (!found.length) return;
  const named: string[] = [];
  for (const record of found) if (await mayName(record)) named.push(`DocumentReference/${record.id}`);
  const hidden = found.length - named.length;
  const parts = [...named, ...(hidden ? [`${hidden} document${hidden > 1 ? 's' : ''} you may not read`] : [])];
  throw new FhirError('FHIR_ERR_DOC_BINARY_IN_USE', 409, 'conflict',
    `Binary/${binaryId} is the content of ${parts.join(', ')}${more ? ' and more' : ''}, which ${found.length > 1 || more ? 'are' : 'is'} not deleted: delete the document first`,
    { expression: ['Binary'] });
}

/**
 * The rule for a DELETE by the caller of `request` of the version `record`
 * (its current one, or the tombstone about to replace it): nothing unless it
 * is a Binary; the documents the caller may read are named. Run once the
 * policy has allowed the deletion (routes/resource.ts, and bundleContentRule).
 */
export async function refuseDeletingUsedContent(request: FastifyRequest, record: VersionRecord, ignored?: ReadonlySet<string>): Promise<void> {
  if (record.type !== 'Binary') return;
  const { repository, config } = request.server;
  await refuseDeletingDocumentContent(repository, record.id, config.fhirBase, (document) => isReadable(request, document), ignored);
}

/**
 * The same rule for the DELETE entries of a Bundle, to run on each
 * tombstone once the policy has allowed it (routes/bundle.ts, in the
 * writeCheck of action `d`, after the policy's own check). A transaction that
 * deletes a document by id (`DocumentReference/<id>`) may delete its bytes
 * too; a batch runs each entry on its own, so its deletions count only once
 * done.
 */
export function bundleContentRule(request: FastifyRequest, bundle: unknown): (record: VersionRecord) => Promise<void> {
  const deleted = documentsDeletedBy(bundle, request.server.config.fhirBase);
  return (record) => refuseDeletingUsedContent(request, record, deleted);
}

/** Ids of the DocumentReferences a transaction deletes by id (conditional deletes are not known before they run). */
function documentsDeletedBy(bundle: unknown, fhirBase: string): Set<string> {
  const ids = new Set<string>();
  const { type, entry } = (bundle ?? {}) as Bundle;
  if (type !== 'transaction' || !Array.isArray(entry)) return ids;
  for (const e of entry) {
    const url = e?.request?.method === 'DELETE' ? e.request.url : undefined;
    const named = typeof url === 'string' ? parseLocalReference(url.replace(/^\//, ''), fhirBase) : undefined;
    if (named?.type === 'DocumentReference') ids.add(named.id);
  }
  return ids;
}

/** Whether a stored DocumentReference has Binary/<id> of this server as an attachment url. */
function namesBinary(record: VersionRecord, binaryId: string, fhirBase: string): boolean {
  const doc = JSON.parse(record.json) as DocumentReference;
  return (Array.isArray(doc.content) ? doc.content : []).some((c) => {
    const url = c?.attachment?.url;
    if (typeof url !== 'string') return false;
    const named = parseLocalReference(url, fhirBase);
    return named?.type === 'Binary' && named.id === binaryId;
  });
}
