import { createHash } from 'node:crypto';
import type { Binary, Bundle, BundleEntry, DocumentReference, List, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { parseRelativeReference, parseTypedUrl, relativeToBase } from '../../fhir/references.js';
import { MHD_LIST_TYPES, MHD_SOURCE_ID, PROVIDE_BUNDLE_PROFILE } from './mhd-codes.js';

/**
 * ITI-65 Provide Document Bundle checks (IHE MHD 4.2, as DOMAIN.md and FR PDSm
 * require them), run on the request Bundle before anything is prepared: pure,
 * so every problem is found and named at once, with the entry and FHIRPath.
 * They run before structural validation, so any JSON value can sit in a field
 * they read: a field of the wrong JSON type is one more problem named here,
 * never a TypeError.
 */

/** A transaction Bundle carrying a SubmissionSet List, or declaring an MHD Provide Bundle profile. */
export function isProvideDocumentBundle(bundle: unknown): bundle is Bundle {
  if (!bundle || typeof bundle !== 'object' || (bundle as Bundle).resourceType !== 'Bundle' || (bundle as Bundle).type !== 'transaction') return false;
  const b = bundle as Bundle;
  if (isObject(b.meta) && Array.isArray(b.meta.profile) && b.meta.profile.some((p) => typeof p === 'string' && PROVIDE_BUNDLE_PROFILE.test(p))) return true;
  return Array.isArray(b.entry) && b.entry.some((e) => e?.resource?.resourceType === 'List' && listKind(e.resource) === 'submissionset');
}

/** 'submissionset', 'folder' or undefined, from List.code. */
export function listKind(list: Resource): 'submissionset' | 'folder' | undefined {
  const code = (list as List).code;
  const codings = isObject(code) && Array.isArray(code.coding) ? code.coding : [];
  if (codings.some((c) => isObject(c) && c.system === MHD_LIST_TYPES && c.code === 'submissionset')) return 'submissionset';
  if (codings.some((c) => isObject(c) && c.system === MHD_LIST_TYPES && c.code === 'folder')) return 'folder';
  return undefined;
}

/** Every problem of a Provide Document Bundle; empty when it may be processed. */
export function checkProvideDocumentBundle(bundle: Bundle, fhirBase: string): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const problem = (code: OperationOutcomeIssue['code'], where: string, text: string) =>
    issues.push({ severity: 'error', code, diagnostics: `${where}: ${text}`, expression: [where] });
  // A field read here: its value, undefined when absent, or false when it has another JSON type (named as a problem).
  const wrongType = (where: string, expected: string, value: unknown): false => {
    problem('structure', where, `must be ${expected}, not ${describe(value)}`);
    return false;
  };
  const objectAt = (value: unknown, where: string): Record<string, unknown> | undefined | false =>
    (value === undefined || isObject(value) ? value : wrongType(where, 'a JSON object', value));
  const arrayAt = (value: unknown, where: string): unknown[] | undefined | false =>
    (value === undefined || Array.isArray(value) ? value : wrongType(where, 'an array', value));
  const stringAt = (value: unknown, where: string): string | undefined | false =>
    (value === undefined || typeof value === 'string' ? value : wrongType(where, 'a string', value));
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

  /** The text of the Reference at `where`: undefined when absent, false when of the wrong JSON type (named). */
  const referenceAt = (value: unknown, where: string): string | undefined | false => {
    const holder = objectAt(value, where);
    return holder ? stringAt(holder.reference, `${where}.reference`) : holder;
  };

  // Every subject must name one and the same patient.
  const subjects: Array<{ where: string; patient: string }> = [];
  const subjectOf = (where: string, subject: unknown) => {
    const reference = referenceAt(subject, where);
    if (reference === false) return;
    if (!reference) {
      problem('required', where, 'subject is required');
      return;
    }
    const target = resolve(reference);
    const patient = target !== undefined ? `entry:${target}` : normalisePatient(reference, fhirBase);
    if (!patient) problem('invalid', where, `subject ${reference.slice(0, 120)} is not a Patient reference`);
    else if (target !== undefined && entries[target]?.resource?.resourceType !== 'Patient') problem('invalid', where, 'subject resolves to an entry that is not a Patient');
    else subjects.push({ where, patient });
  };
  /** Each List.entry item resolves to an entry of this Bundle; returns the entries it resolves to. */
  const itemsOf = (list: List, at: string): number[] => {
    const targets: number[] = [];
    (arrayAt(list.entry, `${at}.entry`) || []).forEach((item, j) => {
      const listEntry = objectAt(item, `${at}.entry[${j}]`);
      const reference = listEntry ? referenceAt(listEntry.item, `${at}.entry[${j}].item`) : false;
      if (reference === false) return;
      const target = resolve(reference);
      if (target === undefined) problem('not-found', `${at}.entry[${j}].item`, `${reference?.slice(0, 120) ?? 'the item'} is not an entry of this Bundle`);
      else targets.push(target);
    });
    return targets;
  };

  const referencedDocuments = new Set<number>();
  for (const i of submissionSets) {
    const at = `Bundle.entry[${i}].resource`;
    const list = entries[i]!.resource as List;
    checkList(list, at, 'SubmissionSet', problem);
    const extensions = arrayAt(list.extension, `${at}.extension`);
    if (extensions !== false) {
      const sourceId = (extensions ?? []).find((x): x is Record<string, unknown> => isObject(x) && x.url === MHD_SOURCE_ID);
      const value = sourceId && ((isObject(sourceId.valueIdentifier) ? sourceId.valueIdentifier.value : undefined) ?? sourceId.valueUri);
      if (typeof value !== 'string' || !value) problem('required', `${at}.extension('${MHD_SOURCE_ID}')`, 'the SubmissionSet needs the ihe-sourceId extension with a value');
    }
    if (!list.date) problem('required', `${at}.date`, 'the SubmissionSet needs a date');
    const identifiers = arrayAt(list.identifier, `${at}.identifier`);
    if (identifiers !== false) {
      const ids = (identifiers ?? []).map((id) => (isObject(id) && typeof id.value === 'string' ? id.value : ''));
      if (!ids.some((v) => /^urn:oid:[0-2](\.(0|[1-9]\d*))+$/.test(v))) problem('required', `${at}.identifier`, 'the SubmissionSet needs its uniqueId identifier (urn:oid:)');
      if (!ids.some((v) => /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v))) problem('required', `${at}.identifier`, 'the SubmissionSet needs its entryUUID identifier (urn:uuid:)');
    }
    subjectOf(`${at}.subject`, list.subject);
    for (const target of itemsOf(list, at)) {
      if (entries[target]?.resource?.resourceType === 'DocumentReference') referencedDocuments.add(target);
    }
  }
  entries.forEach((e, i) => {
    if (e?.resource?.resourceType === 'List' && listKind(e.resource) === 'folder') {
      const at = `Bundle.entry[${i}].resource`;
      const folder = e.resource as List;
      checkList(folder, at, 'Folder', problem);
      subjectOf(`${at}.subject`, folder.subject);
      itemsOf(folder, at);
    }
  });

  for (const i of documents) {
    const at = `Bundle.entry[${i}].resource`;
    const doc = entries[i]!.resource as DocumentReference;
    if (submissionSets.length === 1 && !referencedDocuments.has(i)) problem('invariant', `Bundle.entry[${i}]`, 'this DocumentReference is not referenced by the SubmissionSet');
    if (doc.status !== 'current') problem('value', `${at}.status`, 'a provided DocumentReference has status current');
    const type = objectAt(doc.type, `${at}.type`);
    const typeCodings = type ? arrayAt(type.coding, `${at}.type.coding`) : type;
    if (typeCodings !== false && !(typeCodings ?? []).some((c) => isObject(c) && c.system && c.code)) problem('required', `${at}.type`, 'type (a coded document type) is required');
    const masterIdentifier = objectAt(doc.masterIdentifier, `${at}.masterIdentifier`);
    if (masterIdentifier !== false && !masterIdentifier?.value) problem('required', `${at}.masterIdentifier`, 'masterIdentifier (the document uniqueId) is required');
    if (!doc.date) problem('required', `${at}.date`, 'date is required');
    const authors = arrayAt(doc.author, `${at}.author`);
    if (authors !== false && !authors?.length) problem('required', `${at}.author`, 'at least one author is required');
    subjectOf(`${at}.subject`, doc.subject);
    const contents = arrayAt(doc.content, `${at}.content`);
    if (contents !== false && !contents?.length) problem('required', `${at}.content`, 'content is required');
    (contents || []).forEach((item, k) => {
      const where = `${at}.content[${k}]`;
      const content = objectAt(item, where);
      if (!content) return;
      const format = objectAt(content.format, `${where}.format`);
      if (format !== false && (!format?.system || !format.code)) problem('required', `${where}.format`, 'format (a coded format) is required');
      const attachment = objectAt(content.attachment, `${where}.attachment`);
      if (attachment === false) return;
      const contentType = stringAt(attachment?.contentType, `${where}.attachment.contentType`);
      if (contentType === undefined || contentType === '') problem('required', `${where}.attachment.contentType`, 'contentType is required');
      const url = stringAt(attachment?.url, `${where}.attachment.url`);
      if (url === false) return;
      if (!attachment || !url) {
        problem('required', `${where}.attachment.url`, 'the attachment url (the Binary entry of this Bundle) is required');
        return;
      }
      checkAttachment(attachment, url, contentType || undefined, `${where}.attachment`, entries, resolve, problem);
    });
    // A replaced document is looked up by its reference (replacements.ts) before the processor validates anything.
    (arrayAt(doc.relatesTo, `${at}.relatesTo`) || []).forEach((item, j) => {
      const relation = objectAt(item, `${at}.relatesTo[${j}]`);
      if (relation) referenceAt(relation.target, `${at}.relatesTo[${j}].target`);
    });
  }

  // placeBinaries keeps a securityContext the client set, and ITI-68 decides access through it.
  entries.forEach((e, i) => {
    if (e?.resource?.resourceType === 'Binary') referenceAt((e.resource as Binary).securityContext, `Bundle.entry[${i}].resource.securityContext`);
  });

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

/** The attachment (whose url and contentType are strings) points at a Binary of the Bundle whose decoded bytes match hash and size. */
function checkAttachment(attachment: Record<string, unknown>, url: string, contentType: string | undefined, where: string, entries: BundleEntry[], resolve: (r: string | undefined) => number | undefined, problem: Problem): void {
  const target = resolve(url);
  const binary = target === undefined ? undefined : entries[target]?.resource;
  if (!binary || binary.resourceType !== 'Binary') {
    problem('not-found', `${where}.url`, `${url.slice(0, 120)} is not a Binary entry of this Bundle`);
    return;
  }
  const data = (binary as Binary).data;
  if (typeof data !== 'string' || !/^[A-Za-z0-9+/\s]*={0,2}$/.test(data)) {
    problem('invalid', `Bundle.entry[${target}].resource.data`, 'the Binary needs base64 data');
    return;
  }
  const bytes = Buffer.from(data, 'base64');
  if (attachment.size !== undefined && attachment.size !== bytes.length) {
    problem('value', `${where}.size`, `size ${describe(attachment.size)} does not match the ${bytes.length} bytes of the Binary`);
  }
  if (attachment.hash !== undefined) {
    const sha1 = createHash('sha1').update(bytes).digest('base64');
    if (attachment.hash !== sha1) problem('value', `${where}.hash`, 'hash is not the SHA-1 (base64) of the Binary bytes');
  }
  const binaryType: unknown = (binary as Binary).contentType;
  if (binaryType !== undefined && typeof binaryType !== 'string') {
    problem('structure', `Bundle.entry[${target}].resource.contentType`, `must be a string, not ${describe(binaryType)}`);
  } else if (contentType && binaryType && contentType.split(';')[0]!.trim() !== binaryType.split(';')[0]!.trim()) {
    problem('value', `${where}.contentType`, `contentType ${contentType.slice(0, 120)} differs from the Binary's ${binaryType.slice(0, 120)}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON value in words, for a message: never its text, which may be anything. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return `the ${typeof value} ${JSON.stringify(value).slice(0, 60)}`;
}

/** Every way an entry can be referenced inside the Bundle: fullUrl, Type/id, absolute Type/id. */
function entryKeys(entries: BundleEntry[], fhirBase: string): Map<string, number> {
  const keys = new Map<string, number>();
  entries.forEach((e, i) => {
    if (!e || typeof e !== 'object') return;
    if (typeof e.fullUrl === 'string') {
      keys.set(e.fullUrl, i);
      const named = /^https?:/.test(e.fullUrl) ? parseTypedUrl(e.fullUrl) : undefined;
      if (named) keys.set(`${named.type}/${named.id}`, i);
    }
    const r = e.resource;
    if (typeof r?.resourceType === 'string' && typeof r.id === 'string') {
      keys.set(`${r.resourceType}/${r.id}`, i);
      keys.set(`${fhirBase}/${r.resourceType}/${r.id}`, i);
    }
  });
  return keys;
}

/** `Patient/id` from a relative or this server's absolute reference; undefined when not a Patient. */
export function normalisePatient(reference: unknown, fhirBase: string): string | undefined {
  if (typeof reference !== 'string') return undefined;
  const relative = relativeToBase(reference, fhirBase);
  if (parseRelativeReference(relative)?.type === 'Patient') return relative;
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
  const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
  for (const e of entries) {
    if (e?.resource?.resourceType !== 'DocumentReference' || typeof e.fullUrl !== 'string') continue;
    const content: unknown = (e.resource as DocumentReference).content;
    for (const c of Array.isArray(content) ? (content as unknown[]) : []) {
      const url = isObject(c) && isObject(c.attachment) ? c.attachment.url : undefined;
      if (typeof url === 'string' && !owners.has(url)) owners.set(url, e.fullUrl);
    }
  }
  for (const e of entries) {
    const binary = e?.resource as Binary | undefined;
    if (binary?.resourceType !== 'Binary' || binary.securityContext || typeof e.fullUrl !== 'string') continue;
    const owner = owners.get(e.fullUrl);
    if (owner) binary.securityContext = { reference: owner };
  }
}
