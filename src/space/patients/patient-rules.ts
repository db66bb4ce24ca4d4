import type { Patient, Reference } from '@medplum/fhirtypes';
import type { Principal } from '../../auth/principal.js';
import { ForbiddenError } from '../../errors.js';

/** A write of a Patient, as the write rules see it. */
export interface PatientWrite {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  next?: Patient;
  current?: Patient;
}

/**
 * The regular doctor (`Patient.generalPractitioner`) sees the whole space,
 * masked documents included, and cannot be blocked (access/policy.ts): who it
 * is is the patient's choice, recorded by the patient, their representative,
 * or a system client (the insurer's declaration). A professional who may
 * update the Patient (its address, its telecom) cannot make themselves, or a
 * colleague, the regular doctor of an existing Patient, nor remove the one
 * the patient chose.
 */
export function checkPatientWrite(principal: Principal, write: PatientWrite): void {
  // A new Patient opens no one's existing space; a deletion is judged by the policy alone.
  if (principal.kind !== 'practitioner' || write.method === 'DELETE' || !write.current) return;
  const before = doctorsOf(write.current);
  const after = doctorsOf(write.next);
  if (before.length === after.length && before.every((d, i) => d === after[i])) return;
  throw new ForbiddenError('The regular doctor (Patient.generalPractitioner) is chosen by the patient: a professional cannot change it', 'regular-doctor-by-patient');
}

function doctorsOf(patient: Patient | undefined): string[] {
  const list = Array.isArray(patient?.generalPractitioner) ? patient.generalPractitioner : [];
  return list.map((r: Reference | null) => (typeof r?.reference === 'string' ? r.reference : '')).sort();
}
