import type { IncomingHttpHeaders } from 'node:http';
import { BadRequestError } from '../../errors.js';
import { parseTypedUrl } from '../../fhir/references.js';

/** Header through which an IHE MHD Document Consumer declares the transaction it performs. */
export const IHE_TRANSACTION_HEADER = 'x-ihe-transaction';

/** The transaction MHD defines on each type it searches. */
const TRANSACTIONS: Readonly<Record<string, string>> = { DocumentReference: 'ITI-67', List: 'ITI-66' };

/**
 * Parameters that name the patient by themselves (MHD ITI-66/67: `patient`
 * or `patient.identifier`; the type modifier and R4's `:identifier` say the
 * same), whatever their value. `subject` names a patient only with the type
 * modifier, or with values that are all Patient references (isPatientValue).
 */
const PATIENT_PARAMS: ReadonlySet<string> = new Set([
  'patient', 'patient:Patient', 'patient:identifier', 'patient.identifier', 'patient:Patient.identifier',
  'subject:Patient', 'subject:Patient.identifier',
]);

/**
 * ITI-67 (DocumentReference) and ITI-66 (List) as MHD defines them: a consumer
 * that declares the transaction (X-IHE-Transaction) must name the patient
 * (`patient` or `patient.identifier`, or `subject` with a Patient; a Patient
 * compartment search names it in its path) and the status. A parameter names
 * them only with a value: `patient:missing=false` (every document that has
 * some patient) or an empty `patient=` names no one, nor does `status:missing`
 * name a status. Without the declaration, the search is an ordinary FHIR
 * search. 400 FHIR_ERR_MHD_SEARCH_REQUIRED otherwise.
 */
export function checkMhdConsumerSearch(headers: IncomingHttpHeaders, types: string[], pairs: Array<[string, string]>, compartment?: string): void {
  const declared = String(headers[IHE_TRANSACTION_HEADER] ?? '').trim().toUpperCase();
  const expected = types.length === 1 ? TRANSACTIONS[types[0]!] : undefined;
  if (!declared || declared !== expected) return;
  const valued = pairs.filter(([, value]) => value.split(',').some((v) => v.trim() !== ''));
  const namesPatient = compartment?.startsWith('Patient/') || valued.some(([name, value]) => PATIENT_PARAMS.has(name) || (name === 'subject' && isPatientValue(value)));
  if (!namesPatient) {
    throw new BadRequestError('FHIR_ERR_MHD_SEARCH_REQUIRED', `${declared} requires patient or patient.identifier with a value naming the patient`, { expression: ['patient'] });
  }
  if (!valued.some(([name]) => name === 'status' || (name.startsWith('status:') && name !== 'status:missing'))) {
    throw new BadRequestError('FHIR_ERR_MHD_SEARCH_REQUIRED', `${declared} requires status with a value`, { expression: ['status'] });
  }
}

/** Every item of a reference search value is a Patient reference (`Patient/id`, or an absolute URL ending so). */
function isPatientValue(value: string): boolean {
  const items = value.split(',').map((v) => v.trim()).filter((v) => v !== '');
  return items.length > 0 && items.every((v) => parseTypedUrl(v)?.type === 'Patient');
}
