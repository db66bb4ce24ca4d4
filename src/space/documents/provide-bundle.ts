import { createHash } from 'node:crypto';
import type { Binary, Bundle, BundleEntry, DocumentReference, List, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { ERROR_CODE_SYSTEM } from '../../errors.js';
import type { FhirErrorCode } from '../../errors.js';
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
  if (!isBundle(bundle) || bundle.type !== 'transaction') return false;
  return claimsProvideProfile(bundle) || (Array.isArray(bundle.entry) && bundle.entry.some((e) => isSubmissionSet(e?.resource)));
}

/**
 * A batch meant as ITI-65: it declares an MHD Provide Bundle profile, or
 * creates (POST) a SubmissionSet List, i.e. submits. ITI-65 is a
 * transaction: as a batch, the entries that pass would be stored without
 * those that fail (documents without their List, or naming Binaries that
 * were not stored). A batch updating a stored SubmissionSet (PUT, PATCH)
 * submits nothing and is an ordinary batch.
 */
export function isProvideBatch(bundle: unknown): bundle is Bundle {
  if (!isBundle(bundle) || bundle.type !== 'batch') return false;
  return claimsProvideProfile(bundle)
    || (Array.isArray(bundle.entry) && bundle.entry.some((e) => isObject(e) && isObject(e.request) && e.request.method === 'POST' && isSubmissionSet(e.resource)));
}

function isBundle(value: unknown): value is Bundle {
  return isObject(value) && value.resourceType === 'Bundle';
}

function claimsProvideProfile(bundle: Bundle): boolean {
  return isObject(bundle.meta) && Array.isArray(bundle.meta.profile) && bundle.meta.profile.some((p) => typeof p === 'string' && PROVIDE_BUNDLE_PROFILE.test(p));
}

function isSubmissionSet(resource: unknown): boolean {
  return isObject(resource) && resource.resourceType === 'List' && listKind(resource as unknown as Resource) === 'submissionset';
}

/** 'submissionset', 'folder' or undefined, from List.code. */
export function listKind(list: Resource): 'submissionset' | 'folder' | undefined {
  const code = (list as List).code;
  const codings = isObject(code) && Array.isArray(code.coding) ? code.coding : [];
  if (codings.some((c) => isObject(c) && c.system === MHD_LIST_TYPES && c.code === 'submissionset')) return 'submissionset';
  if (codings.some((c) => isObject(c) && c.system === MHD_LIST_TYPES && c.code === 'folder')) return 'folder';
  return undefined;
}

/**
 * Every problem of a Provide Document Bundle; empty when it may be processed.
 * An issue that has its own error code (an entry that is not one ITI-65
 * allows, a Binary placed elsewhere) carries it in `details`; the others are
 * FHIR_ERR_MHD_PROVIDE_BUNDLE's.
 */
export function checkProvideDocumentBundle(bundle: Bundle, fhirBase: string): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const problem = (code: OperationOutcomeIssue['code'], where: string, text: string, errorCode?: FhirErrorCode) =>
    issues.push({
      severity: 'error', code, diagnostics: `${where}: ${text}`, expression: [where],
      ...(errorCode ? { details: { coding: [{ system: ERROR_CODE_SYSTEM, code: errorCode }] } } : {}),
    });
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
    if (type === 'Patient' || entryKind(e, fhirBase) === 'Patient read') patients.push(i);
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

  const first = subjects[0];
  for (const s of subjects.slice(1)) {
    if (s.patient !== first!.patient) problem('invariant', s.where, `the subject is not the patient of ${first!.where}: every subject of a Provide Document Bundle names the same patient`);
  }

  // Each entry is one that ITI-65 allows (DELETE, GET, PATCH, or another resource type, would ride along unchecked).
  entries.forEach((e, i) => {
    const where = `Bundle.entry[${i}]`;
    if (!isObject(e)) return;
    const kind = entryKind(e, fhirBase);
    const request = isObject(e.request) ? e.request : {};
    const method: unknown = request.method;
    if (kind === undefined) {
      const resourceType = isObject(e.resource) && typeof e.resource.resourceType === 'string' ? `, a ${e.resource.resourceType.slice(0, 60)}` : '';
      problem('business-rule', where, `a Provide Document Bundle holds one SubmissionSet List, its DocumentReferences and their Binaries (created), Folder Lists and at most one Patient; this entry (${requestText(request)}${resourceType}) is none of them`, 'FHIR_ERR_MHD_PROVIDE_ENTRY');
      return;
    }
    const allowed = PROVIDE_METHODS[kind];
    if (typeof method !== 'string' || !allowed.includes(method)) {
      problem('business-rule', `${where}.request.method`, `${KIND_NAMES[kind]} entry of a Provide Document Bundle is ${allowed.join(' or ')}, not ${typeof method === 'string' ? method.slice(0, 20) : describe(method)}`, 'FHIR_ERR_MHD_PROVIDE_ENTRY');
      return;
    }
    const resourceType = isObject(e.resource) ? e.resource.resourceType : undefined;
    if (method !== 'GET' && urlType(request.url, fhirBase) !== resourceType) {
      problem('business-rule', `${where}.request.url`, `${requestText(request)} does not write the ${String(resourceType).slice(0, 60)} of this entry`, 'FHIR_ERR_MHD_PROVIDE_ENTRY');
    }
    if (request.ifNoneExist !== undefined && (kind === 'SubmissionSet' || kind === 'DocumentReference' || kind === 'Binary')) {
      problem('business-rule', `${where}.request.ifNoneExist`, `${KIND_NAMES[kind]} entry of a Provide Document Bundle is always created (201), never matched to a stored one`, 'FHIR_ERR_MHD_PROVIDE_ENTRY');
    }
  });

  // A document's Binary is read through its securityContext (ITI-68): the server sets it to the
  // DocumentReference whose content it is (placeBinaries). One the client sets must name that document.
  const owners = documentsByBinary(entries, documents, resolve);
  entries.forEach((e, i) => {
    if (!isObject(e) || !isObject(e.resource) || e.resource.resourceType !== 'Binary' || e.resource.securityContext === undefined) return;
    const where = `Bundle.entry[${i}].resource.securityContext`;
    const reference = referenceAt(e.resource.securityContext, where);
    if (reference === false) return;
    if (reference === undefined) {
      problem('required', `${where}.reference`, 'a securityContext names the DocumentReference of this Bundle whose content the Binary is (or leave securityContext out: the server sets it)');
      return;
    }
    const target = resolve(reference);
    const documentsOfBinary = owners.get(i) ?? [];
    if (target !== undefined && documentsOfBinary.includes(target)) return;
    problem('security', where, documentsOfBinary.length
      ? `${reference.slice(0, 120)} is not a DocumentReference of this Bundle whose content this Binary is: whoever may read it would read the bytes, and not whoever may read the document (leave securityContext out: the server sets it)`
      : `no DocumentReference of this Bundle has this Binary as content, so its securityContext can name none; ${reference.slice(0, 120)} would let whoever may read it read the bytes`,
    'FHIR_ERR_MHD_SECURITY_CONTEXT');
  });
  return issues;
}

/** What an entry of a Provide Document Bundle may be, and the methods IHE MHD 4.2 allows each (ProvideBundle's slices; MHDprovideFolderActions, MHDprovidePatientActions). */
type EntryKind = 'SubmissionSet' | 'Folder' | 'DocumentReference' | 'Binary' | 'Patient' | 'Patient read';
const PROVIDE_METHODS: Record<EntryKind, readonly string[]> = {
  SubmissionSet: ['POST'], DocumentReference: ['POST'], Binary: ['POST'], Folder: ['POST', 'PUT'], Patient: ['POST', 'PUT'], 'Patient read': ['GET'],
};
const KIND_NAMES: Record<EntryKind, string> = {
  SubmissionSet: 'the SubmissionSet', DocumentReference: 'a DocumentReference', Binary: 'a Binary', Folder: 'a Folder', Patient: 'the Patient', 'Patient read': 'the Patient',
};

/** The kind of a Provide Document Bundle entry: by its resource, or, for a GET (which has none), by its url; undefined for anything else. */
function entryKind(entry: unknown, fhirBase: string): EntryKind | undefined {
  if (!isObject(entry)) return undefined;
  const request = isObject(entry.request) ? entry.request : {};
  if (request.method === 'GET') return urlType(request.url, fhirBase) === 'Patient' ? 'Patient read' : undefined;
  const resource = isObject(entry.resource) ? entry.resource : undefined;
  switch (resource?.resourceType) {
    case 'List': {
      const kind = listKind(resource as unknown as Resource);
      return kind === 'submissionset' ? 'SubmissionSet' : kind === 'folder' ? 'Folder' : undefined;
    }
    case 'DocumentReference': case 'Binary': case 'Patient': return resource.resourceType;
    default: return undefined;
  }
}

/** An entry's request in words: `DELETE DocumentReference/1`, or what is missing. */
function requestText(request: Record<string, unknown>): string {
  const method = typeof request.method === 'string' ? request.method.slice(0, 20) : 'no method';
  const url = typeof request.url === 'string' ? request.url.slice(0, 120) : 'no url';
  return `${method} ${url}`;
}

/** The resource type an entry's request url names (`Type`, `Type/id`, `Type?criteria`, relative or under this server's base). */
function urlType(url: unknown, fhirBase: string): string | undefined {
  if (typeof url !== 'string') return undefined;
  return relativeToBase(url, fhirBase).replace(/^\//, '').split(/[/?]/, 1)[0];
}

/** For each Binary entry, the DocumentReference entries (of `documents`) whose attachment url resolves to it. */
function documentsByBinary(entries: BundleEntry[], documents: number[], resolve: (reference: string | undefined) => number | undefined): Map<number, number[]> {
  const owners = new Map<number, number[]>();
  for (const i of documents) {
    const content: unknown = (entries[i]?.resource as DocumentReference | undefined)?.content;
    for (const c of Array.isArray(content) ? (content as unknown[]) : []) {
      const url = isObject(c) && isObject(c.attachment) ? c.attachment.url : undefined;
      const target = typeof url === 'string' ? resolve(url) : undefined;
      if (target === undefined || !isObject(entries[target]?.resource) || entries[target]!.resource!.resourceType !== 'Binary') continue;
      const list = owners.get(target) ?? [];
      if (!list.includes(i)) list.push(i);
      owners.set(target, list);
    }
  }
  return owners;
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
 * transaction rewrites the reference to the id the document gets): Binary
 * belongs to no patient compartment, and the ITI-68 route decides access to
 * the bytes through it, so whoever may read the document reads them. The
 * Bundle has passed checkProvideDocumentBundle: a securityContext the client
 * set names one of the Binary's documents, and is written the way that
 * document is known in the Bundle. `fhirBase`: this server's, so that urls
 * written under it find their entries too.
 */
export function placeBinaries(bundle: Bundle, fhirBase = ''): void {
  const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
  const keys = entryKeys(entries, fhirBase);
  const resolve = (reference: string | undefined) => (reference === undefined ? undefined : keys.get(reference));
  const documents = entries.flatMap((e, i) => (isObject(e?.resource) && e.resource.resourceType === 'DocumentReference' ? [i] : []));
  for (const [i, owners] of documentsByBinary(entries, documents, resolve)) {
    const binary = entries[i]!.resource as Binary;
    const given: unknown = isObject(binary.securityContext) ? binary.securityContext.reference : undefined;
    const chosen = typeof given === 'string' ? resolve(given) : undefined;
    const reference = nameOf(entries[chosen !== undefined && owners.includes(chosen) ? chosen : owners[0]!]);
    if (reference) binary.securityContext = { reference };
  }
}

/** How the transaction knows an entry (what it rewrites to the entry's id): its fullUrl, else Type/id of its resource. */
function nameOf(entry: BundleEntry | undefined): string | undefined {
  if (typeof entry?.fullUrl === 'string') return entry.fullUrl;
  const resource = entry?.resource;
  return isObject(resource) && typeof resource.id === 'string' && typeof resource.resourceType === 'string' ? `${resource.resourceType}/${resource.id}` : undefined;
}
