import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { Bundle, DocumentReference, List } from '@medplum/fhirtypes';
import { LOINC, runTag } from '../fhir-helpers.js';
import type { CheckContext } from '../../runner/check-context.js';

export const MHD_LIST_TYPES = 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes';
export const SOURCE_ID_EXTENSION = 'https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId';
const CLASS_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument';

export interface ProvideDocument {
  bundle: Bundle;
  /** The unique id of the document (masterIdentifier value): how the kit finds what was stored. */
  uniqueId: string;
  bytes: Buffer;
  contentType: string;
}

function oid(): string {
  return `urn:oid:1.2.250.1.213.1.1.9.${randomInt(1, 2 ** 31)}.${randomInt(1, 2 ** 31)}.${Date.now()}`;
}

/** Document bytes that are not valid UTF-8, so any re-encoding shows in a byte comparison. */
export function documentBytes(): Buffer {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  return Buffer.concat([Buffer.from('%PDF-1.4\n%carnet-conformance\n'), all, randomBytes(32), Buffer.from('\n%%EOF\n')]);
}

export function sha1Base64(bytes: Buffer): string {
  return createHash('sha1').update(bytes).digest('base64');
}

/**
 * An ITI-65 Provide Document Bundle (minimal metadata): one SubmissionSet List,
 * one DocumentReference, one Binary, for an existing Patient.
 */
export function provideDocumentBundle(ctx: CheckContext, patientRef: string, over: { hash?: string; size?: number; binaryUrl?: string; withSubmissionSet?: boolean } = {}): ProvideDocument {
  const bytes = documentBytes();
  const contentType = 'application/pdf';
  const uniqueId = oid();
  const ss = `urn:uuid:${randomUUID()}`;
  const dr = `urn:uuid:${randomUUID()}`;
  const bin = `urn:uuid:${randomUUID()}`;
  const now = new Date().toISOString();
  const docRef: DocumentReference = {
    resourceType: 'DocumentReference',
    meta: { tag: [runTag(ctx)] },
    masterIdentifier: { system: 'urn:ietf:rfc:3986', value: uniqueId },
    identifier: [{ use: 'official', system: 'urn:ietf:rfc:3986', value: dr }],
    status: 'current',
    type: { coding: [{ system: LOINC, code: '11488-4', display: 'Consultation note' }] },
    category: [{ coding: [{ system: CLASS_SYSTEM, code: '10', display: 'Compte rendu' }] }],
    subject: { reference: patientRef },
    date: now,
    // MHD (and France's PDSm) require an author and a format code.
    contained: [{ resourceType: 'Practitioner', id: 'author', name: [{ family: 'Conformance', given: ['Kit'] }] }],
    author: [{ reference: '#author' }],
    description: `carnet-conformance ${ctx.runId}`,
    content: [
      {
        attachment: {
          contentType,
          url: over.binaryUrl ?? bin,
          size: over.size ?? bytes.length,
          hash: over.hash ?? sha1Base64(bytes),
          title: 'Compte rendu de consultation',
          creation: now,
        },
        format: { system: 'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode', code: 'urn:ihe:iti:xds:2017:mimeTypeSufficient' },
      },
    ],
  };
  const submissionSet: List = {
    resourceType: 'List',
    meta: { tag: [runTag(ctx)] },
    extension: [{ url: SOURCE_ID_EXTENSION, valueIdentifier: { value: 'urn:oid:1.2.250.1.213.1.1.9' } }],
    identifier: [
      { use: 'usual', system: 'urn:ietf:rfc:3986', value: oid() },
      { use: 'official', system: 'urn:ietf:rfc:3986', value: ss },
    ],
    status: 'current',
    mode: 'working',
    code: { coding: [{ system: MHD_LIST_TYPES, code: 'submissionset' }] },
    subject: { reference: patientRef },
    date: now,
    entry: [{ item: { reference: dr } }],
  };
  const entries: NonNullable<Bundle['entry']> = [];
  if (over.withSubmissionSet !== false) entries.push({ fullUrl: ss, resource: submissionSet, request: { method: 'POST', url: 'List' } });
  entries.push({ fullUrl: dr, resource: docRef, request: { method: 'POST', url: 'DocumentReference' } });
  entries.push({ fullUrl: bin, resource: { resourceType: 'Binary', contentType, data: bytes.toString('base64') }, request: { method: 'POST', url: 'Binary' } });
  return { bundle: { resourceType: 'Bundle', type: 'transaction', meta: { profile: ['https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.ProvideBundle'] }, entry: entries }, uniqueId, bytes, contentType };
}
