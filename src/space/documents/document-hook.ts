import type { FastifyRequest } from 'fastify';
import type { Consent, DocumentReference, Patient, Resource } from '@medplum/fhirtypes';
import { principalOf } from '../../access/guard.js';
import { ineffectiveVisibilityLabels } from '../../access/labels.js';
import { UnprocessableError } from '../../errors.js';
import type { VersionRecord } from '../../store/engine.js';
import { checkDocumentWrite } from './document-rules.js';
import { assertStructure, assertValid } from '../../fhir/validation/validate.js';
import { checkPatientWrite } from '../patients/patient-rules.js';
import { checkConsentWrite } from '../patients/consent-rules.js';

/** A write as the REST routes and the Bundle processor see it, before it is prepared. */
export interface ResourceWrite {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  next?: Resource;
  current?: VersionRecord;
}

/**
 * The space's write rules bound to the caller (visibility labels on every type,
 * documents, who the patient's regular doctor is, and whom a block names): the hook
 * the write paths call for every write. Returns the resource to store (unchanged
 * for other types).
 */
export function applyWriteRules(request: FastifyRequest, type: string, write: ResourceWrite): Resource | undefined {
  if (write.next) checkVisibilityLabels(request, type, write);
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

/**
 * Every type: a visibility label the policy would not count (access/labels.ts)
 * is refused, 422 FHIR_ERR_LABEL_SYSTEM, rather than stored as a mask that masks
 * nothing. The validator speaks first, with the answer the store would give (a
 * malformed body's 400, a required binding's 422): this rule only adds to it.
 */
function checkVisibilityLabels(request: FastifyRequest, type: string, write: ResourceWrite): void {
  const live = write.current && !write.current.deleted ? write.current : undefined;
  const labels = ineffectiveVisibilityLabels(type, write.next, () => (live ? JSON.parse(live.json) : undefined));
  if (labels.length === 0) return;
  // As the store validates it: its meta carries the server's version fields.
  const { meta, ...rest } = write.next as Resource & Record<string, unknown>;
  const stored = { ...rest, meta: { ...(typeof meta === 'object' ? meta : {}), versionId: '1', lastUpdated: new Date(0).toISOString() } };
  assertValid(stored, { mode: live ? 'update' : 'create', profiles: request.server.config.requiredProfiles[type] ?? [] });
  throw new UnprocessableError('FHIR_ERR_LABEL_SYSTEM', labels[0]!.message, {
    issues: labels.map((label) => ({ severity: 'error', code: 'processing', diagnostics: label.message, expression: [label.expression] })),
  });
}
