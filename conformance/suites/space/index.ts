import { defineSuite } from '../../runner/suite.js';
import type { Check } from '../../runner/suite.js';
import { systemScope } from '../../runner/target.js';
import type { Requirement } from '../../runner/types.js';
import { accessHistory, appConsent, blockedProfessional, breakTheGlass, invisibleToRepresentatives, createSpaceState, documentOrigin, invisibleToPatient, maskedFromProfessionals, regularDoctor } from './checks.js';
import type { SpaceState } from './checks.js';
import { actorCredentials } from './fixtures.js';

const SPEC = 'Health space rules (carnet DOMAIN)';

/** Why a listed rule is skipped: the kit's own limit, never a claim about the server under test. */
export const NOT_CHECKED_BY_KIT = 'not checked by this version of the kit';

/**
 * The health space's own rules, listed so a report shows them. Each `text` says
 * exactly what its check verifies; `notChecked` names what of the rule it does
 * not verify, and why (shown with the result, so a pass claims no more).
 */
const RULES: { id: string; section: string; text: string; notChecked?: string[]; skip?: string }[] = [
  { id: 'masked-from-professionals', section: 'Documents masked from professionals',
    text: 'A document the patient masked (securityLabel MASQUE_PS) is not returned to a permitted professional other than the regular doctor, by read, by search of the space\'s documents or by a search on its _id; an unmasked one is.',
    notChecked: ['_include, _revinclude and counts (_summary=count, Bundle.total) of masked documents'] },
  { id: 'invisible-to-patient', section: 'Documents not visible to the patient',
    text: 'A document marked INVISIBLE_PATIENT, just written, is hidden from the holder, by read and by search; an unlabelled one is not.',
    notChecked: ['that it becomes visible to the holder automatically one month after it was written: a run cannot wait a month, and no FHIR client can set when a document was written'] },
  { id: 'invisible-to-representatives', section: 'Documents not visible to legal representatives',
    text: 'A document of a minor marked INVISIBLE_REPRESENTANTS_LEGAUX is hidden from a legal representative of the minor, by read and by search; an unlabelled one is not.' },
  { id: 'regular-doctor', section: 'Regular doctor',
    text: 'The regular doctor reads, and finds by searching the space, its MASQUE_PS and INVISIBLE_PATIENT documents, and cannot be blocked: named (as Patient.generalPractitioner names them) in a deny Consent of the patient, they still read and find the masked document (or the server refuses to record that Consent).',
    notChecked: ['that the regular doctor sees the space\'s data other than DocumentReferences'] },
  { id: 'blocked-professional', section: 'Blocking a professional',
    text: 'A professional the patient blocked (Consent deny naming that Practitioner) gets 403 reading a document of the space they read before, and no document from a search of the space\'s documents (403 or nothing).',
    notChecked: ['reads and searches of resource types other than DocumentReference'] },
  { id: 'break-the-glass', section: 'Emergency access',
    text: 'A professional without a permit reads a document of the space with X-Break-The-Glass: <reason>; the access is audited with purpose BTG, the holder and the regular doctor (Patient.generalPractitioner) are each a recipient of a Communication of category emergency-access carrying the reason; after the patient objected (a deny Consent with purpose BTG) the same read is refused (403).',
    notChecked: ['that emergency access is kept for when the person cannot express their will: nothing in a request tells it'] },
  { id: 'no-insurer', section: 'Forbidden parties',
    text: 'No insurer, mutual fund, bank or employer gets access, even with the holder\'s agreement.',
    skip: `${NOT_CHECKED_BY_KIT}: it cannot know which credentials an insurer, mutual fund, bank or employer would present to the server` },
  { id: 'patient-cannot-start-thread', section: 'Messaging',
    text: 'Only professionals and care institutions start a conversation (Communication); a patient may only reply.',
    skip: NOT_CHECKED_BY_KIT },
  { id: 'access-history', section: 'Access history',
    text: 'The holder finds in their AuditEvents (AuditEvent?patient=) each read the run made of a new document of their space, as the holder and, when given, as the professional and the regular doctor: an AuditEvent naming the document, with the reader as an agent (Patient/<id>, the professional\'s reference, the Patient\'s generalPractitioner) and no failure outcome; and the holder cannot delete an AuditEvent.',
    notChecked: ['accesses made by clients acting for no person (the run\'s own writes): the kit cannot know how a server names such a client in AuditEvent.agent', 'accesses other than reads of a document'] },
  { id: 'document-origin', section: 'Document origin',
    text: 'A document the patient adds carries class 90 (stored with it, or refused without it), and a professional-side client cannot store a document claiming class 90.' },
  // Last of the checks sending the patient's token: withdrawing the app's consent may end that token for
  // good (setting the Consent back to active need not revive a token issued before the withdrawal).
  { id: 'app-consent', section: 'Catalogue apps',
    text: 'Once the holder withdraws their consent to a catalogue app (its permit Consent set inactive), the app\'s reads (401/403) and searches (refused or empty) of the space stop at once.',
    notChecked: ['the app\'s writes after the withdrawal', 'that an app the holder never consented to gets no access'] },
];

function requirement(r: (typeof RULES)[number]): Requirement {
  return { id: `space-${r.id}`, spec: SPEC, section: r.section, url: `urn:carnet:space-rule:${r.id}`, text: r.text };
}

/**
 * Rules checked for real. Checks run in the order of RULES; those that change
 * the space's Consents (blocking the professional or the regular doctor,
 * emergency access, app consent) put them back as they found them. The app's
 * tokens need not survive its consent being withdrawn, so app-consent comes
 * last of the checks that send the patient's token.
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
const checks: Check<SpaceState>[] = RULES.map((r) => ({
  id: `space.${r.id}`,
  title: r.section,
  requirement: requirement(r),
  notChecked: r.notChecked,
  // Skipped, never passed, where no real check exists; the reason is the kit's, not a guess about the server.
  run: RUNS[r.id] ?? (async (ctx) => ctx.skip(r.skip ?? NOT_CHECKED_BY_KIT)),
}));

export const spaceSuite = defineSuite<SpaceState>({
  id: 'space',
  title: 'Health space rules',
  spec: SPEC,
  // Write access: the suite seeds the space it then checks as each actor.
  scope: (target) => systemScope(target, '*', 'cruds'),
  createState: createSpaceState,
  // The actors' tokens are tried before any check: a stale one stops the run, naming its actor.
  credentials: (tokens) => actorCredentials(tokens.spaceActors),
  checks,
});
