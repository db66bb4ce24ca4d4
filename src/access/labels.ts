import type { TokenIndex } from '../fhir/search/index-types.js';
import type { VersionRecord } from '../store/engine.js';

/** Visibility statuses of a document (DOMAIN.md "Visibility and confidentiality"). */
export const VISIBILITY_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument';
/** Hidden from professionals (masked by the patient). */
export const MASKED_FROM_PROFESSIONALS = 'MASQUE_PS';
/** Not visible to the patient (set by a professional; lifts one month after it was written). */
export const HIDDEN_FROM_PATIENT = 'INVISIBLE_PATIENT';
/** Not visible to the legal representatives. */
export const HIDDEN_FROM_REPRESENTATIVES = 'INVISIBLE_REPRESENTANTS_LEGAUX';

/** How long an item hidden from the patient stays hidden: one month (31 days). */
export const HIDDEN_FROM_PATIENT_MS = 31 * 24 * 3600 * 1000;

const NO_LABELS: readonly string[] = Object.freeze([]);

/**
 * Security label codes of a stored version, from its index values: `meta.security`
 * (`_security`) for every type, `DocumentReference.securityLabel` (`security-label`).
 * Only codes of the visibility system count, so a code from another system cannot
 * be mistaken for one of ours.
 */
export function visibilityLabels(record: Pick<VersionRecord, 'idx'>): readonly string[] {
  // Most records carry no label: no array is built for them (this runs on every read).
  const security = record.idx._security as TokenIndex[] | undefined;
  const documentLabels = record.idx['security-label'] as TokenIndex[] | undefined;
  if (security === undefined && documentLabels === undefined) return NO_LABELS;
  const out: string[] = [];
  for (const values of [security, documentLabels]) {
    for (const value of values ?? []) {
      if (value.s === VISIBILITY_SYSTEM && value.c) out.push(value.c);
    }
  }
  return out;
}

/**
 * The same rule as a MongoDB filter over stored versions: versions that do NOT
 * carry `code` in the visibility system (in either label field).
 */
export function withoutLabel(code: string): Record<string, unknown> {
  const sc = `${VISIBILITY_SYSTEM}|${code}`;
  return { $and: [{ 'idx._security.sc': { $ne: sc } }, { 'idx.security-label.sc': { $ne: sc } }] };
}
