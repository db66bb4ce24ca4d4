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

/** Every visibility code the policy acts on (the TRE-A07 codes this server knows). */
export const VISIBILITY_CODES: ReadonlySet<string> = new Set([MASKED_FROM_PROFESSIONALS, HIDDEN_FROM_PATIENT, HIDDEN_FROM_REPRESENTATIVES]);

/** How long an item hidden from the patient stays hidden: one month (31 days). */
export const HIDDEN_FROM_PATIENT_MS = 31 * 24 * 3600 * 1000;

const NO_LABELS: readonly string[] = Object.freeze([]);

/**
 * Security label codes of a stored version, from its index values: `meta.security`
 * (`_security`) for every type, `DocumentReference.securityLabel` (`security-label`).
 * Only codes of the visibility system count, so a code from another system cannot
 * be mistaken for one of ours. Other types index other things as `security-label`
 * (a Consent's `provision.securityLabel` names the data it is about): not labels of theirs.
 */
export function visibilityLabels(record: Pick<VersionRecord, 'idx' | 'type'>): readonly string[] {
  // Most records carry no label: no array is built for them (this runs on every read).
  const security = record.idx._security as TokenIndex[] | undefined;
  const documentLabels = record.type === 'DocumentReference' ? record.idx['security-label'] as TokenIndex[] | undefined : undefined;
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
  return { $and: [{ 'idx._security.sc': { $ne: sc } }, { $or: [{ type: { $ne: 'DocumentReference' } }, { 'idx.security-label.sc': { $ne: sc } }] }] };
}

/**
 * The write-side twin of visibilityLabels: labels that read as a visibility
 * status but that the policy would not count, so that a write carrying one can be
 * refused (document-hook.ts) rather than leave the writer believing the resource
 * masked or hidden while everyone it should be hidden from still sees it. Such a
 * label is a coding (in `meta.security`, read for every type, or in
 * DocumentReference.securityLabel) whose code is a visibility code (whatever its
 * case or surrounding spaces) but whose system is missing or not exactly
 * VISIBILITY_SYSTEM (`http:`, a trailing `/`...); a coding of VISIBILITY_SYSTEM
 * whose code the server does not know; or a securityLabel whose text names a
 * visibility code that none of its codings carries. Labels of other systems
 * (v3-Confidentiality `N`, `R`, `V`) are not judged. A label the current version
 * already carries is left alone, so that a resource stored before this rule still
 * takes its other changes (a patient may still mask it).
 * Runs before structural validation: any JSON value may sit in these fields, and
 * one of the wrong JSON type is left to the validator.
 */
export function ineffectiveVisibilityLabels(type: string, next: unknown, current: () => unknown): IneffectiveLabel[] {
  const found = ineffectiveLabels(type, next);
  if (found.length === 0) return found;
  const before = new Set(ineffectiveLabels(type, current()).map((label) => label.key));
  return found.filter((label) => !before.has(label.key));
}

export interface IneffectiveLabel {
  expression: string;
  message: string;
  /** The label's JSON with sorted keys and its field: the same label in another version has the same key. */
  key: string;
}

const TAKES_EFFECT = `must carry the system ${VISIBILITY_SYSTEM} and one of its codes ${[...VISIBILITY_CODES].join(', ')} to take effect`;

function ineffectiveLabels(type: string, resource: unknown): IneffectiveLabel[] {
  const out: IneffectiveLabel[] = [];
  if (!isObject(resource)) return out;
  const security = isObject(resource.meta) ? resource.meta.security : undefined;
  listOf(security).forEach((coding, i) => {
    const problem = codingProblem(coding);
    if (problem) out.push({ expression: `${type}.meta.security[${i}]`, message: `${type}.meta.security[${i}] ${problem}: a visibility label ${TAKES_EFFECT}`, key: `meta.security|${canonical(coding)}` });
  });
  if (type !== 'DocumentReference') return out;
  listOf(resource.securityLabel).forEach((concept, i) => {
    if (!isObject(concept)) return;
    const codings = listOf(concept.coding);
    const at = `DocumentReference.securityLabel[${i}]`;
    codings.forEach((coding, j) => {
      const problem = codingProblem(coding);
      if (problem) out.push({ expression: `${at}.coding[${j}]`, message: `${at}.coding[${j}] ${problem}: a visibility label ${TAKES_EFFECT}`, key: `securityLabel|${canonical(coding)}` });
    });
    const named = visibilityCodeOf(concept.text);
    if (named && !codings.some((c) => isObject(c) && c.system === VISIBILITY_SYSTEM && c.code === named)) {
      out.push({ expression: `${at}.text`, message: `${at} names ${named} in its text only: a visibility label is a coding, and ${TAKES_EFFECT}`, key: `securityLabel|${canonical(concept)}` });
    }
  });
  return out;
}

/** Why a coding looks like a visibility label the policy would not count, if it does. */
function codingProblem(coding: unknown): string | undefined {
  if (!isObject(coding)) return undefined;
  const { system, code } = coding;
  // A system or code of the wrong JSON type is the validator's to report (400).
  if ((system !== undefined && typeof system !== 'string') || (code !== undefined && typeof code !== 'string')) return undefined;
  if (system === VISIBILITY_SYSTEM) {
    if (code !== undefined && VISIBILITY_CODES.has(code)) return undefined;
    return code === undefined ? 'has no code' : 'has a code that is not a visibility code';
  }
  const named = visibilityCodeOf(code);
  if (!named) return undefined;
  return system === undefined ? `has the code ${named} without a system` : `has the code ${named} under another system than the visibility system`;
}

/** The visibility code `value` spells, whatever its case and surrounding spaces. */
function visibilityCodeOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const code = value.trim().toUpperCase();
  return VISIBILITY_CODES.has(code) ? code : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** JSON text with object keys sorted. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (isObject(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}
