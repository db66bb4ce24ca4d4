import type { CareTeam, Consent, ConsentProvision, Patient, RelatedPerson } from '@medplum/fhirtypes';
import { parseLocalReference } from '../fhir/references.js';
import type { StoreEngine } from '../store/engine.js';

/** The system under which Consents name an app (an OAuth client) as actor. */
export const CLIENT_ID_SYSTEM = 'urn:carnet:client-id';

/**
 * What the policy needs to know about one patient's space: who their regular
 * doctor is, who is in their care team, who represents them, and what their
 * active Consents permit or deny. Loaded from the store per request (never
 * cached across requests: a withdrawn consent takes effect at once).
 * Every reference is held as `Type/id` (localKey), however it was written.
 */
export interface PatientFacts {
  /** 'Patient/123' */
  patient: string;
  exists: boolean;
  generalPractitioners: Set<string>;
  careTeam: Set<string>;
  /** RelatedPerson references whose `patient` is this patient (legal representatives). */
  representatives: Set<string>;
  /** Actors with an active permit: 'Practitioner/1', 'client:<client id>'. */
  permitted: Set<string>;
  /** Actors with an active deny (blocked). */
  denied: Set<string>;
  /** The patient refused emergency access (a deny with purpose BTG). */
  emergencyRefused: boolean;
  /** Scopes each consenting app was granted ('client id' -> scope string). */
  appScopes: Map<string, string>;
}

const BTG = 'BTG';

/** Reads the facts of `patient` ('Patient/123') from the store; `fhirBase` is this server's FHIR base URL. */
export async function loadPatientFacts(engine: StoreEngine, patient: string, now: number, fhirBase: string): Promise<PatientFacts> {
  const id = patient.slice('Patient/'.length);
  const facts = emptyFacts(patient);
  const [record, consents, teams, related] = await Promise.all([
    engine.current('Patient', id),
    engine.find({ types: ['Consent'], filter: { 'idx.patient.r': patient, 'idx.status.c': 'active' }, sort: [['id', 1]], limit: 1000 }),
    engine.find({ types: ['CareTeam'], filter: { 'idx.patient.r': patient, 'idx.status.c': 'active' }, sort: [['id', 1]], limit: 200 }),
    engine.find({ types: ['RelatedPerson'], filter: { 'idx.patient.r': patient }, sort: [['id', 1]], limit: 200 }),
  ]);
  if (record && !record.deleted) {
    facts.exists = true;
    for (const gp of (JSON.parse(record.json) as Patient).generalPractitioner ?? []) addLocal(facts.generalPractitioners, gp.reference, fhirBase);
  }
  for (const team of teams) {
    for (const p of (JSON.parse(team.json) as { participant?: Array<{ member?: { reference?: string }; period?: { start?: string; end?: string } }> }).participant ?? []) {
      if (inPeriod(p.period, now)) addLocal(facts.careTeam, p.member?.reference, fhirBase);
    }
  }
  for (const r of related) {
    const person = JSON.parse(r.json) as RelatedPerson;
    if (person.active !== false && inPeriod(person.period, now)) facts.representatives.add(`RelatedPerson/${r.id}`);
  }
  for (const c of consents) applyConsent(facts, JSON.parse(c.json) as Consent, now, fhirBase);
  return facts;
}

/**
 * A reference to a resource of this server as `Type/id`, the form principals
 * and compartments use: written relative or under `fhirBase`, and without
 * its version (a block of `Practitioner/1/_history/2` blocks Practitioner/1,
 * as the `actor` search index reads it). Undefined for another server's URL,
 * which names no one here, and for text that names no resource.
 */
export function localKey(reference: string | undefined, fhirBase: string): string | undefined {
  const parts = reference ? parseLocalReference(reference, fhirBase, { version: 'any' }) : undefined;
  return parts && `${parts.type}/${parts.id}`;
}

function addLocal(set: Set<string>, reference: string | undefined, fhirBase: string): void {
  const key = localKey(reference, fhirBase);
  if (key) set.add(key);
}

function emptyFacts(patient: string): PatientFacts {
  return {
    patient, exists: false, generalPractitioners: new Set(), careTeam: new Set(), representatives: new Set(),
    permitted: new Set(), denied: new Set(), emergencyRefused: false, appScopes: new Map(),
  };
}

/** Folds one active Consent's provisions (and nested exceptions) into the facts. */
export function applyConsent(facts: PatientFacts, consent: Consent, now: number, fhirBase: string): void {
  if (consent.status !== 'active') return;
  // An app's Consent carries the scopes granted on the consent screen; its provision.class lists their types.
  const scope = consent.extension?.find((e) => e.url === GRANTED_SCOPE_EXTENSION)?.valueString;
  const walk = (provision: ConsentProvision | undefined, inherited: 'permit' | 'deny' | undefined) => {
    if (!provision) return;
    const type = provision.type ?? inherited;
    if (inPeriod(provision.period, now) && type) {
      const actors = (provision.actor ?? []).map((a) => actorKey(a.reference, fhirBase)).filter((a): a is string => !!a);
      const purposes = (provision.purpose ?? []).map((p) => p.code);
      if (type === 'deny' && purposes.includes(BTG)) facts.emergencyRefused = true;
      // The policy grants or refuses a whole space. A permit narrowed to some of it counts for
      // nothing rather than for everything; a narrowed deny still refuses the whole space.
      else if (type === 'deny' || !isNarrowed(provision, scope !== undefined)) {
        for (const actor of actors) {
          (type === 'permit' ? facts.permitted : facts.denied).add(actor);
          if (type === 'permit' && actor.startsWith('client:') && scope) facts.appScopes.set(actor.slice('client:'.length), scope);
        }
      }
    }
    for (const nested of provision.provision ?? []) walk(nested, type === 'permit' ? 'deny' : 'permit');
  };
  walk(consent.provision, undefined);
}

/**
 * A provision that applies to some of the patient's data only (R4
 * Consent.provision.data, class, code, securityLabel, dataPeriod). The
 * resource types (`class`) of an app's Consent are what its granted scopes,
 * which the policy enforces, already name.
 */
function isNarrowed(provision: ConsentProvision, scoped: boolean): boolean {
  return Boolean(provision.data?.length || (!scoped && provision.class?.length) || provision.code?.length || provision.securityLabel?.length || provision.dataPeriod);
}

/** Extension on an app's Consent carrying the scopes granted on the consent screen. */
export const GRANTED_SCOPE_EXTENSION = 'https://carnet.dev/fhir/StructureDefinition/granted-scope';

function actorKey(reference: { reference?: string; identifier?: { system?: string; value?: string } } | undefined, fhirBase: string): string | undefined {
  if (reference?.reference) return localKey(reference.reference, fhirBase);
  if (reference?.identifier?.system === CLIENT_ID_SYSTEM && reference.identifier.value) return `client:${reference.identifier.value}`;
  return undefined;
}

function inPeriod(period: { start?: string; end?: string } | undefined, now: number): boolean {
  if (!period) return true;
  if (period.start && Date.parse(period.start) > now) return false;
  if (period.end && Date.parse(period.end) < now) return false;
  return true;
}

/**
 * The patients a professional may see through the regular-doctor, care-team
 * or consent rules (for search restrictions), minus those who blocked them.
 */
export async function patientsOfProfessional(engine: StoreEngine, practitioner: string, now: number, fhirBase: string): Promise<{ asDoctor: string[]; byConsent: string[] }> {
  const [doctorOf, consents, teams] = await Promise.all([
    engine.find({ types: ['Patient'], filter: { 'idx.general-practitioner.r': practitioner }, sort: [['id', 1]], limit: 100_000 }),
    engine.find({ types: ['Consent'], filter: { 'idx.actor.r': practitioner, 'idx.status.c': 'active' }, sort: [['id', 1]], limit: 100_000 }),
    engine.find({ types: ['CareTeam'], filter: { 'idx.participant.r': practitioner, 'idx.status.c': 'active' }, sort: [['id', 1]], limit: 100_000 }),
  ]);
  const asDoctor = doctorOf.map((r) => `Patient/${r.id}`);
  const permitted = new Set<string>();
  const denied = new Set<string>();
  for (const c of consents) {
    const consent = JSON.parse(c.json) as Consent;
    const patient = localKey(consent.patient?.reference, fhirBase);
    if (!patient?.startsWith('Patient/')) continue;
    const facts = emptyFacts(patient);
    applyConsent(facts, consent, now, fhirBase);
    if (facts.denied.has(practitioner)) denied.add(patient);
    if (facts.permitted.has(practitioner)) permitted.add(patient);
  }
  // A team opens its subject's space to the members whose participation is current, as on read
  // (loadPatientFacts): not the space of a patient who is a fellow participant.
  for (const team of teams) {
    const { subject, participant } = JSON.parse(team.json) as CareTeam;
    // Written relative or on this server's base: the same Patient/id the `patient` index holds.
    const patient = localKey(subject?.reference, fhirBase);
    if (!patient?.startsWith('Patient/')) continue;
    if ((participant ?? []).some((p) => localKey(p.member?.reference, fhirBase) === practitioner && inPeriod(p.period, now))) permitted.add(patient);
  }
  return { asDoctor, byConsent: [...permitted].filter((p) => !denied.has(p) && !asDoctor.includes(p)) };
}
