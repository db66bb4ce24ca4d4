import type { Bundle, BundleEntry, DocumentReference } from '@medplum/fhirtypes';
import { FhirError, UnprocessableError } from '../../errors.js';
import { parseLocalReference } from '../../fhir/references.js';
import type { StoreEngine, VersionRecord } from '../../store/engine.js';
import { normalisePatient } from './provide-bundle.js';

/**
 * Document replacement (MHD: `relatesTo.code = replaces`): the replaced
 * DocumentReference becomes `superseded` in the same transaction. This adds
 * one PATCH entry per replaced document to the Bundle (guarded by the version
 * read here, so a concurrent change fails the whole transaction with 412), and
 * the caller drops their answers, so the response still has one entry per
 * request entry. `transforms` and `appends` leave the target current.
 *
 * `mayLearn` is the access policy on the replaced document, asked before
 * anything is said of its state: a document the caller may not learn about
 * is answered exactly as one that does not exist (FHIR_ERR_MHD_REPLACED_UNKNOWN,
 * same text), so the answer tells no one what they may not read (whether it
 * exists, whether it is current, whose it is). Without it (a caller that has
 * no request to judge), only the existence and state are checked.
 */
export async function addSupersedeEntries(bundle: Bundle, engine: StoreEngine, fhirBase: string, mayLearn?: ReplacedDocumentPolicy): Promise<{ bundle: Bundle; added: number }> {
  if (bundle.type !== 'transaction' || !Array.isArray(bundle.entry)) return { bundle, added: 0 };
  const added: BundleEntry[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of bundle.entry.entries()) {
    const doc = entry?.resource as DocumentReference | undefined;
    if (doc?.resourceType !== 'DocumentReference' || entry.request?.method !== 'POST' || !Array.isArray(doc.relatesTo)) continue;
    for (const [j, relation] of doc.relatesTo.entries()) {
      if (relation?.code !== 'replaces') continue;
      const where = `Bundle.entry[${i}].resource.relatesTo[${j}].target`;
      const given = relation.target?.reference;
      const reference = typeof given === 'string' ? given : '';
      const id = replacedId(reference, fhirBase);
      if (!id) throw replaceError('FHIR_ERR_MHD_REPLACED_UNKNOWN', where, `a replaced document is referenced as DocumentReference/[id] of this server, not ${reference.slice(0, 120) || 'nothing'}`);
      if (seen.has(id)) throw replaceError('FHIR_ERR_MHD_REPLACED_TWICE', where, `DocumentReference/${id} is replaced twice in this Bundle`);
      seen.add(id);
      const current = await engine.current('DocumentReference', id);
      // Unknown, deleted, or not the caller's to know: one answer.
      if (!current || current.deleted || (mayLearn && !(await mayLearn(current)))) {
        throw replaceError('FHIR_ERR_MHD_REPLACED_UNKNOWN', where, `the replaced DocumentReference/${id} does not exist (or you may not read it)`);
      }
      const old = JSON.parse(current.json) as DocumentReference;
      if (old.status !== 'current') throw replaceError('FHIR_ERR_MHD_REPLACED_NOT_CURRENT', where, `the replaced DocumentReference/${id} is ${String(old.status)}, not current`);
      const subject = doc.subject?.reference ? normalisePatient(doc.subject.reference, fhirBase) : undefined;
      if (subject?.startsWith('Patient/') && !current.comp.includes(subject)) {
        throw replaceError('FHIR_ERR_MHD_REPLACED_OTHER_PATIENT', where, `the replaced DocumentReference/${id} belongs to another patient`);
      }
      const patch = [{ op: 'replace', path: '/status', value: 'superseded' }];
      added.push({
        resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(patch)).toString('base64') },
        request: { method: 'PATCH', url: `DocumentReference/${id}`, ifMatch: `W/"${current.vid}"` },
      });
    }
  }
  return added.length ? { bundle: { ...bundle, entry: [...bundle.entry, ...added] }, added: added.length } : { bundle, added: 0 };
}

/**
 * Whether the caller may be told about a replaced document (its state, its
 * patient): the policy's word, asked before anything is said of it.
 */
export type ReplacedDocumentPolicy = (replaced: VersionRecord) => Promise<boolean>;

function replaceError(code: `FHIR_ERR_${string}`, where: string, text: string): FhirError {
  return new UnprocessableError(code, `${where}: ${text}`, { expression: [where] });
}

/**
 * A new document and those it replaces belong to the same patient, judged on
 * the version about to be stored (its compartments come from the subject the
 * transaction resolved): a subject written as a conditional reference or as a
 * Bundle entry cannot pass for another patient's, as it could before the
 * references were resolved (addSupersedeEntries checks literal subjects early).
 */
export async function checkReplacedSamePatient(engine: StoreEngine, record: VersionRecord, fhirBase: string): Promise<void> {
  if (record.type !== 'DocumentReference' || !record.json.includes('"replaces"')) return;
  const doc = JSON.parse(record.json) as DocumentReference;
  for (const [j, relation] of (doc.relatesTo ?? []).entries()) {
    if (relation?.code !== 'replaces') continue;
    const id = replacedId(relation.target?.reference ?? '', fhirBase);
    if (!id) continue;
    const replaced = await engine.current('DocumentReference', id);
    const same = replaced !== undefined && replaced.comp.length === record.comp.length && replaced.comp.every((p) => record.comp.includes(p));
    if (!same) {
      throw replaceError('FHIR_ERR_MHD_REPLACED_OTHER_PATIENT', `DocumentReference.relatesTo[${j}].target`, `the replaced DocumentReference/${id} belongs to another patient`);
    }
  }
}

/** The id of the DocumentReference of this server that a `replaces` target names, written relative or absolute. */
function replacedId(reference: string, fhirBase: string): string | undefined {
  const named = parseLocalReference(reference, fhirBase);
  return named?.type === 'DocumentReference' ? named.id : undefined;
}
