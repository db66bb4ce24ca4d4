import type { DocumentReference } from '@medplum/fhirtypes';
import { ForbiddenError, UnprocessableError } from '../../errors.js';
import type { Principal } from '../../auth/principal.js';
import { parseRelativeReference } from '../../fhir/references.js';
import { HIDDEN_FROM_PATIENT, HIDDEN_FROM_REPRESENTATIVES, MASKED_FROM_PROFESSIONALS, VISIBILITY_SYSTEM } from '../../access/labels.js';
import { DOCUMENT_CLASS_SYSTEM, IS_ARCHIVED_EXTENSIONS, PATIENT_DOCUMENT_CLASS, PATIENT_DOCUMENT_TYPE, PATIENT_DOCUMENT_TYPE_SYSTEM } from './mhd-codes.js';

/** One write of a DocumentReference, as the rules see it. */
export interface DocumentWrite {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The version about to be written (absent for DELETE). */
  next?: DocumentReference;
  /** The current version (absent for a create). */
  current?: DocumentReference;
}

/**
 * The health space's rules on document writes (DOMAIN.md "Documents"; FR PDSm
 * metadata updates). Returns the version to store (attachment urls made
 * absolute) or throws: 422 for content rules, 403 (naming the rule) when this
 * kind of caller may not make the change.
 */
export function checkDocumentWrite(principal: Principal, write: DocumentWrite, fhirBase: string): DocumentReference | undefined {
  const patientSide = isPatientSide(principal);
  const { current, next } = write;
  if (write.method === 'DELETE') {
    if (!current) return undefined;
    if (patientSide && !isPatientDocument(current)) throw new ForbiddenError('A patient may delete only the documents they added (class 90)', 'patient-deletes-own-documents-only');
    if (!patientSide && isPatientDocument(current)) throw new ForbiddenError('Documents added by the patient are deleted by the patient only', 'patient-documents-belong-to-patient');
    return undefined;
  }
  if (!next) return undefined;
  if (!current) {
    if (patientSide && !isPatientDocument(next)) {
      throw new UnprocessableError('FHIR_ERR_DOC_PATIENT_ORIGIN',
        `A document added by the patient carries category ${DOCUMENT_CLASS_SYSTEM}#${PATIENT_DOCUMENT_CLASS} and a DOCPAT type of ${PATIENT_DOCUMENT_TYPE_SYSTEM}`,
        { expression: ['DocumentReference.category', 'DocumentReference.type'] });
    }
    if (!patientSide && claimsPatientOrigin(next)) {
      throw new UnprocessableError('FHIR_ERR_DOC_ORIGIN_CLAIM', 'Class 90 and DOCPAT types mark documents added by the patient; a professional document cannot use them',
        { expression: ['DocumentReference.category', 'DocumentReference.type'] });
    }
  } else {
    if (isPatientDocument(current) !== isPatientDocument(next) || claimsPatientOrigin(current) !== claimsPatientOrigin(next)) {
      throw new UnprocessableError('FHIR_ERR_DOC_ORIGIN_CHANGE', 'The origin of a document (class 90 and DOCPAT type for the patient\'s own) cannot change', { expression: ['DocumentReference.category'] });
    }
    if (patientSide && !isPatientDocument(current) && !onlyMaskChanged(current, next)) {
      throw new ForbiddenError('On a professional\'s document a patient may only mask or unmask it (MASQUE_PS)', 'patient-masks-only');
    }
    if (!patientSide && isPatientDocument(current) && next.status !== current.status) {
      throw new ForbiddenError('Documents added by the patient are retired by the patient only (superseded, entered in error)', 'patient-documents-belong-to-patient');
    }
    // PDSm: a stored document's metadata changes by these fields only, whether by PATCH or by a PUT of the whole
    // resource (content and other metadata change by a replacing submission, `relatesTo` replaces). Both sides
    // absolute: a document stored before versioned urls were made absolute may keep `Binary/id/_history/vid`.
    checkMetadataPatch(withAbsoluteAttachments(current, fhirBase), withAbsoluteAttachments(next, fhirBase));
  }
  checkLabelChanges(patientSide, current, next);
  return withAbsoluteAttachments(next, fhirBase);
}

/** Patients, their legal representatives and the apps acting for them. */
export function isPatientSide(principal: Principal): boolean {
  return principal.kind === 'patient' || principal.kind === 'related-person' || principal.kind === 'app';
}

/** Class 90 of TRE_A03 and a DOCPAT (or EXPPAT_3) type of TRE_A05. */
export function isPatientDocument(doc: DocumentReference): boolean {
  return hasClass90(doc) && hasPatientType(doc);
}

function claimsPatientOrigin(doc: DocumentReference): boolean {
  return hasClass90(doc) || hasCode([doc.type], PATIENT_DOCUMENT_TYPE_SYSTEM, (code) => /^DOCPAT/.test(code));
}

function hasClass90(doc: DocumentReference): boolean {
  return hasCode(listOf(doc.category), DOCUMENT_CLASS_SYSTEM, (code) => code === PATIENT_DOCUMENT_CLASS);
}

function hasPatientType(doc: DocumentReference): boolean {
  return hasCode([doc.type], PATIENT_DOCUMENT_TYPE_SYSTEM, (code) => PATIENT_DOCUMENT_TYPE.test(code));
}

/*
 * These rules run before structural validation (the repository validates the
 * version they return), so any JSON value can sit in a field they read. A field
 * of the wrong JSON type counts as absent or as not matching: the rule then
 * refuses the write, or lets it through to the validator, which answers 400
 * naming the field. Nothing here may throw anything but a FhirError.
 */

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The codings of a CodeableConcept that are JSON objects. */
function codingsOf(concept: unknown): Array<Record<string, unknown>> {
  return isObject(concept) ? listOf(concept.coding).filter(isObject) : [];
}

/** One of `concepts` has a coding of `system` whose code is a string that `matches`. */
function hasCode(concepts: unknown[], system: string, matches: (code: string) => boolean): boolean {
  return concepts.some((cc) => codingsOf(cc).some((c) => c.system === system && typeof c.code === 'string' && matches(c.code)));
}

function isArchivedExtension(x: unknown): x is Record<string, unknown> {
  return isObject(x) && typeof x.url === 'string' && IS_ARCHIVED_EXTENSIONS.has(x.url);
}

/** FR PDSm: a metadata update (JSON PATCH) touches status, securityLabel and the isArchived extension only. */
function checkMetadataPatch(current: DocumentReference, next: DocumentReference): void {
  const strip = (doc: DocumentReference) => {
    const { meta, status: _status, securityLabel: _labels, extension, ...rest } = doc;
    const kept = listOf(extension).filter((x) => !isArchivedExtension(x));
    // The narrative and tags are the document's too; only the server's version fields and the labels may differ.
    const { versionId: _v, lastUpdated: _u, security: _s, ...ownMeta } = isObject(meta) ? meta : {};
    return { ...rest, ...(Object.keys(ownMeta).length ? { meta: ownMeta } : {}), ...(kept.length ? { extension: kept } : {}) };
  };
  const before = canonical(strip(current));
  const after = canonical(strip(next));
  if (before !== after) {
    throw new UnprocessableError('FHIR_ERR_DOC_PATCH_FIELD', 'A DocumentReference metadata update (PDSm) may change only status, securityLabel and the isArchived extension', { expression: ['DocumentReference'] });
  }
  const archived = listOf(next.extension).filter(isArchivedExtension);
  if (archived.length > 1 || archived.some((x) => typeof x.valueBoolean !== 'boolean' || Object.keys(x).some((k) => k !== 'url' && k !== 'valueBoolean'))) {
    throw new UnprocessableError('FHIR_ERR_DOC_PATCH_FIELD', 'The isArchived extension appears at most once, with a valueBoolean', { expression: ['DocumentReference.extension'] });
  }
}

function onlyMaskChanged(current: DocumentReference, next: DocumentReference): boolean {
  const other = (doc: DocumentReference) => {
    const { meta, securityLabel, ...rest } = doc;
    // Only the server's version fields, and the mask itself (in securityLabel or meta.security), may differ.
    const { versionId: _v, lastUpdated: _u, security, ...ownMeta } = isObject(meta) ? meta : {};
    const security2 = listOf(security).filter((c) => !isLabel(c, MASKED_FROM_PROFESSIONALS));
    const metaLeft = { ...ownMeta, ...(security2.length ? { security: security2 } : {}) };
    // A label that is not a JSON object stays as it is, so adding or removing one is a change.
    const labels = listOf(securityLabel)
      .map((l) => (isObject(l) ? { ...l, coding: listOf(l.coding).filter((c) => !isLabel(c, MASKED_FROM_PROFESSIONALS)) } : l))
      .filter((l) => !isObject(l) || (l.coding as unknown[]).length > 0 || l.text);
    return canonical({ ...rest, securityLabel: labels, ...(Object.keys(metaLeft).length ? { meta: metaLeft } : {}) });
  };
  return other(current) === other(next);
}

/** Who may set which visibility label (DOMAIN.md "Who may read what"). */
function checkLabelChanges(patientSide: boolean, current: DocumentReference | undefined, next: DocumentReference): void {
  const before = labelsOf(current);
  const after = labelsOf(next);
  const changed = (code: string) => before.has(code) !== after.has(code);
  if (patientSide && (changed(HIDDEN_FROM_PATIENT) || changed(HIDDEN_FROM_REPRESENTATIVES))) {
    throw new ForbiddenError('Only professionals mark a document not visible to the patient or to legal representatives', 'professional-labels');
  }
  // A professional may file a document already masked at the patient's request; lifting the mask is the patient's choice.
  if (!patientSide && current && changed(MASKED_FROM_PROFESSIONALS)) {
    throw new ForbiddenError('Only the patient masks or unmasks a document from professionals', 'patient-labels');
  }
}

function labelsOf(doc: DocumentReference | undefined): Set<string> {
  const out = new Set<string>();
  if (!doc) return out;
  const codings = [...listOf(doc.securityLabel).flatMap(codingsOf), ...listOf(isObject(doc.meta) ? doc.meta.security : undefined).filter(isObject)];
  for (const c of codings) if (c.system === VISIBILITY_SYSTEM && typeof c.code === 'string' && c.code) out.add(c.code);
  return out;
}

function isLabel(c: unknown, code: string): boolean {
  return isObject(c) && c.system === VISIBILITY_SYSTEM && c.code === code;
}

/**
 * Attachment urls naming a Binary of this server (`Binary/id`, as a transaction
 * leaves them, or one version of it, `Binary/id/_history/vid`) are stored
 * absolute, so ITI-67 results carry a URL that works for ITI-68 as they are:
 * stored JSON is served untouched on reads.
 */
export function withAbsoluteAttachments(doc: DocumentReference, fhirBase: string): DocumentReference {
  if (!Array.isArray(doc.content) || !doc.content.some((c) => localBinaryUrl(c) !== undefined)) return doc;
  return {
    ...doc,
    content: doc.content.map((c) => {
      const url = localBinaryUrl(c);
      return url === undefined ? c : { ...c, attachment: { ...c.attachment, url: `${fhirBase}/${url}` } };
    }),
  };
}

/** The attachment url of a content entry when it names a Binary of this server as `Binary/id` or `Binary/id/_history/vid`. */
function localBinaryUrl(content: unknown): string | undefined {
  const url = isObject(content) && isObject(content.attachment) ? content.attachment.url : undefined;
  return typeof url === 'string' && parseRelativeReference(url, { version: 'any' })?.type === 'Binary' ? url : undefined;
}

/** JSON text with object keys sorted, to compare two versions field by field. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}
