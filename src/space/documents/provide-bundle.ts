import { createHash } from 'node:crypto';
import type { Attachment, Binary, Bundle, BundleEntry, DocumentReference, List, OperationOutcomeIssue, Reference, Resource } from '@medplum/fhirtypes';
import { MHD_LIST_TYPES, MHD_SOURCE_ID, PROVIDE_BUNDLE_PROFILE } from './mhd-codes.js';

/**
 * ITI-65 Provide Document Bundle checks (IHE MHD 4.2, as DOMAIN.md and FR PDSm
 * require them), run on the request Bundle before anything is prepared: pure,
 * so every problem is found and named at once, with the entry and FHIRPath.
 */

/** A transaction Bundle carrying a SubmissionSet List, or declaring an MHD Provide Bundle profile. */
export function isProvideDocumentBundle(bundle: unknown): bundle is Bundle {
  if (!bundle || typeof bundle !== 'object' || (bundle as Bundle).resourceType !== 'Bundle' || (bundle as Bundle).type !== 'transaction') return false;
  const b = bundle as Bundle;
  if (b.meta?.profile?.some((p) => typeof p === 'string' && PROVIDE_BUNDLE_PROFILE.test(p))) return true;
  return Array.isArray(b.entry) && b.entry.some((e) => e?.resource?.resourceType === 'List' && listKind(e.resource) === 'submissionset');
}

/** 'submissionset', 'folder' or undefined, from List.code. */
export function listKind(list: Resource): 'submissionset' | 'folder' | undefined {
  const codings = (list as List).code?.coding ?? [];
  if (codings.some((c) => c?.system === MHD_LIST_TYPES && c.code === 'submissionset')) return 'submissionset';
  if (codings.some((c) => c?.system === MHD_LIST_TYPES && c.code === 'folder')) return 'folder';
  return undefined;
}

/** Every problem of a Provide Document Bundle; empty when it may be processed. */
export function checkProvideDocumentBundle(bundle: Bundle, fhirBase: string): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const problem = (code: OperationOutcomeIssue['code'], where: string, text: string) =>
    issues.push({ severity: 'error', code, diagnostics: `${where}: ${text}`, expression: [where] });
  const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
  const keys = entryKeys(entries, fhirBase);
  const resolve = (reference: string | undefined): number | undefined => (reference === undefined ? undefined : keys.get(reference));

  const submissionSets: number[] = [];
  const patients: number[] = [];
  const documents: number[] = [];
  entries.forEach((e, i) => {
    const type = e?.resource?.resourceType;
    if (type === 'List' && listKind(e.resource!) === 'submissionset') submissionSets.push(i);
    if (type === 'Patient') patients.push(i);
    if (type === 'DocumentReference') documents.push(i);
  });
  if (submissionSets.length !== 1) {
    problem('required', 'Bundle.entry', `a Provide Document Bundle holds exactly one SubmissionSet List (List.code ${MHD_LIST_TYPES}#submissionset); found ${submissionSets.length}`);
  }
  if (patients.length > 1) problem('invariant', `Bundle.entry[${patients[1]}]`, 'a Provide Document Bundle holds at most one Patient');
  if (documents.length === 0) problem('required', 'Bundle.entry', 'a Provide Document Bundle holds at least one DocumentReference');

  // Every subject must name one and the same patient.
  const subjects: Array<{ where: string; patient: string }> = [];
  const subjectOf = (where: string, subject: Reference | undefined) => {
    if (!subject?.reference) {
      problem('required', where, 'subject is required');
      return;
    }
    const target = resolve(subject.reference);
    const patient = target !== undefined ? `entry:${target}` : normalisePatient(subject.reference, fhirBase);
    if (!patient) problem('invalid', where, `subject ${subject.reference.slice(0, 120)} is not a Patient reference`);
    else if (target !== undefined && entries[target]?.resource?.resourceType !== 'Patient') problem('invalid', where, 'subject resolves to an entry that is not a Patient');
    else subjects.push({ where, patient });
  };

  const referencedDocuments = new Set<number>();
  for (const i of submissionSets) {
    const at = `Bundle.entry[${i}].resource`;
    const list = entries[i]!.resource as List;
    checkList(list, at, 'SubmissionSet', problem);
    const sourceId = list.extension?.find((x) => x?.url === MHD_SOURCE_ID);
    if (!sourceId || !(sourceId.valueIdentifier?.value ?? sourceId.valueUri)) problem('required', `${at}.extension('${MHD_SOURCE_ID}')`, 'the SubmissionSet needs the ihe-sourceId extension with a value');
    if (!list.date) problem('required', `${at}.date`, 'the SubmissionSet needs a date');
    const ids = (list.identifier ?? []).map((id) => id?.value ?? '');
    if (!ids.some((v) => /^urn:oid:[0-2](\.(0|[1-9]\d*))+$/.test(v))) problem('required', `${at}.identifier`, 'the SubmissionSet needs its uniqueId identifier (urn:oid:)');
    if (!ids.some((v) => /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v))) problem('required', `${at}.identifier`, 'the SubmissionSet needs its entryUUID identifier (urn:uuid:)');
    subjectOf(`${at}.subject`, list.subject);
    (list.entry ?? []).forEach((item, j) => {
      const target = resolve(item?.item?.reference);
      if (target === undefined) problem('not-found', `${at}.entry[${j}].item`, `${item?.item?.reference?.slice(0, 120) ?? 'the item'} is not an entry of this Bundle`);
      else if (entries[target]?.resource?.resourceType === 'DocumentReference') referencedDocuments.add(target);
    });
  }
  entries.forEach((e, i) => {
    if (e?.resource?.resourceType === 'List' && listKind(e.resource) === 'folder') {
      const at = `Bundle.entry[${i}].resource`;
      const folder = e.resource as List;
      checkList(folder, at, 'Folder', problem);
      subjectOf(`${at}.subject`, folder.subject);
      (folder.entry ?? []).forEach((item, j) => {
        if (resolve(item?.item?.reference) === undefined) problem('not-found', `${at}.entry[${j}].item`, `${item?.item?.reference?.slice(0, 120) ?? 'the item'} is not an entry of this Bundle`);
      });
    }
  });

  for (const i of documents) {
    const at = `Bundle.entry[${i}].resource`;
    const doc = entries[i]!.resource as DocumentReference;
    if (submissionSets.length === 1 && !referencedDocuments.has(i)) problem('invariant', `Bundle.entry[${i}]`, 'this DocumentReference is not referenced by the SubmissionSet');
    if (doc.status !== 'current') problem('value', `${at}.status`, 'a provided DocumentReference has status current');
    if (!doc.type?.coding?.some((c) => c?.system && c.code)) problem('required', `${at}.type`, 'type (a coded document type) is required');
    if (!doc.masterIdentifier?.value) problem('required', `${at}.masterIdentifier`, 'masterIdentifier (the document uniqueId) is required');
    if (!doc.date) problem('required', `${at}.date`, 'date is required');
    if (!doc.author?.length) problem('required', `${at}.author`, 'at least one author is required');
    subjectOf(`${at}.subject`, doc.subject);
    if (!doc.content?.length) problem('required', `${at}.content`, 'content is required');
    (doc.content ?? []).forEach((content, k) => {
      const where = `${at}.content[${k}]`;
      if (!content?.format?.system || !content.format.code) problem('required', `${where}.format`, 'format (a coded format) is required');
      const attachment = content?.attachment;
      if (!attachment?.contentType) problem('required', `${where}.attachment.contentType`, 'contentType is required');
      checkAttachment(attachment, `${where}.attachment`, entries, resolve, problem);
    });
  }

  const first = subjects[0];
  for (const s of subjects.slice(1)) {
    if (s.patient !== first!.patient) problem('invariant', s.where, `the subject is not the patient of ${first!.where}: every subject of a Provide Document Bundle names the same patient`);
  }
  return issues;
}

type Problem = (code: OperationOutcomeIssue['code'], where: string, text: string) => void;

function checkList(list: List, at: string, what: string, problem: Problem): void {
  if (list.status !== 'current') problem('value', `${at}.status`, `the ${what} List has status current`);
  if (list.mode !== 'working') problem('value', `${at}.mode`, `the ${what} List has mode working`);
}

/** The attachment points at a Binary of the Bundle whose decoded bytes match hash and size. */
function checkAttachment(attachment: Attachment | undefined, where: string, entries: BundleEntry[], resolve: (r: string | undefined) => number | undefined, problem: Problem): void {
  if (!attachment?.url) {
    problem('required', `${where}.url`, 'the attachment url (the Binary entry of this Bundle) is required');
    return;
  }
  const target = resolve(attachment.url);
  const binary = target === undefined ? undefined : entries[target]?.resource;
  if (!binary || binary.resourceType !== 'Binary') {
    problem('not-found', `${where}.url`, `${attachment.url.slice(0, 120)} is not a Binary entry of this Bundle`);
    return;
  }
  const data = (binary as Binary).data;
  if (typeof data !== 'string' || !/^[A-Za-z0-9+/\s]*={0,2}$/.test(data)) {
    problem('invalid', `Bundle.entry[${target}].resource.data`, 'the Binary needs base64 data');
    return;
  }
  const bytes = Buffer.from(data, 'base64');
  if (attachment.size !== undefined && attachment.size !== bytes.length) {
    problem('value', `${where}.size`, `size ${String(attachment.size)} does not match the ${bytes.length} bytes of the Binary`);
  }
  if (attachment.hash !== undefined) {
    const sha1 = createHash('sha1').update(bytes).digest('base64');
    if (attachment.hash !== sha1) problem('value', `${where}.hash`, 'hash is not the SHA-1 (base64) of the Binary bytes');
  }
  const binaryType = (binary as Binary).contentType;
  if (attachment.contentType && binaryType && attachment.contentType.split(';')[0]!.trim() !== binaryType.split(';')[0]!.trim()) {
    problem('value', `${where}.contentType`, `contentType ${attachment.contentType} differs from the Binary's ${binaryType}`);
  }
}

/** Every way an entry can be referenced inside the Bundle: fullUrl, Type/id, absolute Type/id. */
function entryKeys(entries: BundleEntry[], fhirBase: string): Map<string, number> {
  const keys = new Map<string, number>();
  entries.forEach((e, i) => {
    if (!e || typeof e !== 'object') return;
    if (typeof e.fullUrl === 'string') {
      keys.set(e.fullUrl, i);
      const m = /([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(e.fullUrl);
      if (m && /^https?:/.test(e.fullUrl)) keys.set(m[1]!, i);
    }
    const r = e.resource;
    if (r?.resourceType && typeof r.id === 'string') {
      keys.set(`${r.resourceType}/${r.id}`, i);
      keys.set(`${fhirBase}/${r.resourceType}/${r.id}`, i);
    }
  });
  return keys;
}

/** `Patient/id` from a relative or this server's absolute reference; undefined when not a Patient. */
export function normalisePatient(reference: string, fhirBase: string): string | undefined {
  const relative = reference.startsWith(`${fhirBase}/`) ? reference.slice(fhirBase.length + 1) : reference;
  if (/^Patient\/[A-Za-z0-9\-.]{1,64}$/.test(relative)) return relative;
  if (/^Patient\?./.test(relative)) return relative;
  return undefined;
}

/**
 * Sets each document Binary's securityContext to its DocumentReference (the
 * transaction rewrites the urn:uuid): Binary belongs to no patient
 * compartment, and the ITI-68 route decides access to the bytes through it.
 * A securityContext the client set is kept.
 */
export function placeBinaries(bundle: Bundle): void {
  const owners = new Map<string, string>();
  for (const e of bundle.entry ?? []) {
    if (e?.resource?.resourceType !== 'DocumentReference' || typeof e.fullUrl !== 'string') continue;
    for (const c of (e.resource as DocumentReference).content ?? []) {
      const url = c?.attachment?.url;
      if (typeof url === 'string' && !owners.has(url)) owners.set(url, e.fullUrl);
    }
  }
  for (const e of bundle.entry ?? []) {
    const binary = e?.resource as Binary | undefined;
    if (binary?.resourceType !== 'Binary' || binary.securityContext || typeof e.fullUrl !== 'string') continue;
    const owner = owners.get(e.fullUrl);
    if (owner) binary.securityContext = { reference: owner };
  }
}
