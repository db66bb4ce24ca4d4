import type { FastifyRequest } from 'fastify';
import type { Consent, DocumentReference, Patient, Resource } from '@medplum/fhirtypes';
import { principalOf } from '../../access/guard.js';
import type { VersionRecord } from '../../store/engine.js';
import { checkDocumentWrite } from './document-rules.js';
import { assertStructure } from '../../fhir/validation/validate.js';
import { checkPatientWrite } from '../patients/patient-rules.js';
import { checkConsentWrite } from '../patients/consent-rules.js';

/** A write as the REST routes and the Bundle processor see it, before it is prepared. */
export interface ResourceWrite {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  next?: Resource;
  current?: VersionRecord;
}

/**
 * The space's write rules bound to the caller (documents, who the patient's
 * regular doctor is, and whom a block names): the hook the write paths call for every
 * write. Returns the resource to store (unchanged for other types).
 */
export function applyWriteRules(request: FastifyRequest, type: string, write: ResourceWrite): Resource | undefined {
  if (type === 'Patient') {
    const current = write.current && !write.current.deleted ? (JSON.parse(write.current.json) as Patient) : undefined;
    checkPatientWrite(principalOf(request), { method: write.method, next: write.next as Patient | undefined, current });
    return write.next;
  }
  if (type === 'Consent') {
    checkConsentWrite(write.next as Consent | undefined, request.server.config.fhirBase);
    return write.next;
  }
  if (type !== 'DocumentReference') return write.next;
  const current = write.current && !write.current.deleted ? (JSON.parse(write.current.json) as DocumentReference) : undefined;
  const next = write.next as DocumentReference | undefined;
  // A malformed body gets the validator's 400 before any rule compares it with the stored version.
  if (current && next && write.method === 'PUT') assertStructure(next as unknown as Record<string, unknown>);
  return checkDocumentWrite(principalOf(request), { method: write.method, next, current }, request.server.config.fhirBase) ?? write.next;
}
