import { defineSuite } from '../../runner/suite.js';
import type { Check } from '../../runner/suite.js';
import { systemScope } from '../../runner/target.js';
import type { Requirement } from '../../runner/types.js';
import { accessHistory, appConsent, blockedProfessional, breakTheGlass, invisibleToRepresentatives, createSpaceState, documentOrigin, invisibleToPatient, maskedFromProfessionals, regularDoctor } from './checks.js';
import type { SpaceState } from './checks.js';

const SPEC = 'Health space rules (carnet DOMAIN)';
export const NOT_YET = 'feature not yet available on the server';
export const NO_CHECK_YET = 'no check for this rule in this version of the kit';

/** The health space's own rules, listed so a report shows them. */
const RULES: { id: string; section: string; text: string }[] = [
  { id: 'masked-from-professionals', section: 'Documents masked from professionals',
    text: 'A document the patient masked (securityLabel MASQUE_PS) is not returned to professionals other than the regular doctor, by read, search, _include or count.' },
  { id: 'invisible-to-patient', section: 'Documents not visible to the patient',
    text: 'A document marked INVISIBLE_PATIENT is hidden from the holder and becomes visible automatically after one month.' },
  { id: 'invisible-to-representatives', section: 'Documents not visible to legal representatives',
    text: 'A document marked INVISIBLE_REPRESENTANTS_LEGAUX is hidden from the legal representatives of a minor.' },
  { id: 'regular-doctor', section: 'Regular doctor',
    text: 'The regular doctor sees all data, masked items included, and cannot be blocked.' },
  { id: 'blocked-professional', section: 'Blocking a professional',
    text: 'A professional the patient blocked (Consent deny naming that Practitioner) gets 403 on every read, and no data of the space from any search (403 or nothing).' },
  { id: 'break-the-glass', section: 'Emergency access',
    text: 'Emergency access (purpose BTG) is allowed unless the patient objected beforehand, and the holder and regular doctor are told.' },
  { id: 'no-insurer', section: 'Forbidden parties',
    text: 'No insurer, mutual fund, bank or employer gets access, even with the holder\'s agreement.' },
  { id: 'patient-cannot-start-thread', section: 'Messaging',
    text: 'Only professionals and care institutions start a conversation (Communication); a patient may only reply.' },
  { id: 'access-history', section: 'Access history',
    text: 'The holder can read the AuditEvents of every access to their space.' },
  { id: 'app-consent', section: 'Catalogue apps',
    text: 'A referenced app reads or writes a space only with the holder\'s express, revocable consent for that app.' },
  { id: 'document-origin', section: 'Document origin',
    text: 'Documents added by the patient and by professionals are always distinguishable.' },
];

function requirement(r: (typeof RULES)[number]): Requirement {
  return { id: `space-${r.id}`, spec: SPEC, section: r.section, url: `urn:carnet:space-rule:${r.id}`, text: r.text };
}

/**
 * Rules checked for real. Checks run in the order of RULES; those that change
 * the space's Consents (blocking, emergency access, app consent) put them back
 * as they found them, so the order does not decide an outcome.
 */
const RUNS: Record<string, Check<SpaceState>['run']> = {
  'masked-from-professionals': maskedFromProfessionals,
  'invisible-to-patient': invisibleToPatient,
  'invisible-to-representatives': invisibleToRepresentatives,
  'regular-doctor': regularDoctor,
  'blocked-professional': blockedProfessional,
  'break-the-glass': breakTheGlass,
  'access-history': accessHistory,
  'app-consent': appConsent,
  'document-origin': documentOrigin,
};
const NOT_ON_SERVER = new Set(['patient-cannot-start-thread']);

const checks: Check<SpaceState>[] = RULES.map((r) => ({
  id: `space.${r.id}`,
  title: r.section,
  requirement: requirement(r),
  // Skipped, never passed, where no real check exists.
  run: RUNS[r.id] ?? (async (ctx) => ctx.skip(NOT_ON_SERVER.has(r.id) ? NOT_YET : NO_CHECK_YET)),
}));

export const spaceSuite = defineSuite<SpaceState>({
  id: 'space',
  title: 'Health space rules',
  spec: SPEC,
  // Write access: the suite seeds the space it then checks as each actor.
  scope: (target) => systemScope(target, '*', 'cruds'),
  createState: createSpaceState,
  checks,
});
