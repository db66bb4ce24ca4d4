import type { Consent, DocumentReference, Patient } from '@medplum/fhirtypes';
import type { SpaceActors } from '../../auth/space-actors.js';
import type { CheckContext } from '../../runner/check-context.js';
import type { GivenCredential } from '../../runner/credential-refusal.js';
import { createResource, runTag, unique } from '../fhir-helpers.js';

/** Codes of the documented space rules (README "Who may see what"). */
export const VISIBILITY_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument';
export const DOCUMENT_CLASS_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument';
export const PATIENT_DOCUMENT_TYPE_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire';
export const PATIENT_CLASS = '90';
/** How a professional asks for emergency access (README "Who may see what"), the reason as value. */
export const BREAK_THE_GLASS_HEADER = 'x-break-the-glass';

export type ActorField = keyof SpaceActors;
const OPTION: Record<ActorField, string> = {
  patientId: '--space-patient-id',
  patientToken: '--space-patient-token',
  professionalToken: '--space-professional-token',
  professionalRef: '--space-professional-ref',
  doctorToken: '--space-doctor-token',
  minorId: '--space-minor-id',
  representativeToken: '--space-representative-token',
};

type TokenField = 'patientToken' | 'professionalToken' | 'doctorToken' | 'representativeToken';
const TOKEN_OWNER: Record<TokenField, string> = {
  patientToken: 'the patient\'s token',
  professionalToken: 'the professional\'s token',
  doctorToken: 'the regular doctor\'s token',
  representativeToken: 'the legal representative\'s token',
};

/** The actors' tokens, each named by whose it is and how it was given: the run tries each before any check. */
export function actorCredentials(actors: SpaceActors | undefined): GivenCredential[] {
  return (Object.keys(TOKEN_OWNER) as TokenField[]).flatMap((f) => {
    const token = actors?.[f];
    return token ? [{ token, name: `${TOKEN_OWNER[f]} (${OPTION[f]}, ${f} in --space-actors)` }] : [];
  });
}

/** The actors a check needs, skipping (never passing) when one was not given. */
export function requireActors<K extends ActorField>(ctx: CheckContext, fields: K[]): Required<Pick<SpaceActors, K>> {
  const actors = ctx.tokens.spaceActors ?? {};
  const missing = fields.filter((f) => !actors[f]);
  if (missing.length) ctx.skip(`needs ${missing.map((f) => OPTION[f]).join(', ')} (or --space-actors FILE)`);
  // Seeding the space needs the run's own (system) credentials too.
  ctx.requireCredentials();
  return actors as Required<Pick<SpaceActors, K>>;
}

export function professionalDocument(ctx: CheckContext, patientId: string, label?: string): DocumentReference {
  const text = Buffer.from(`carnet conformance ${unique(ctx, 'doc')}`);
  return {
    resourceType: 'DocumentReference',
    meta: { tag: [runTag(ctx)] },
    status: 'current',
    type: { coding: [{ system: 'http://loinc.org', code: '11488-4', display: 'Consultation note' }] },
    category: [{ coding: [{ system: DOCUMENT_CLASS_SYSTEM, code: '10', display: 'Compte rendu' }] }],
    subject: { reference: `Patient/${patientId}` },
    date: new Date().toISOString(),
    ...(label ? { securityLabel: [{ coding: [{ system: VISIBILITY_SYSTEM, code: label }] }] } : {}),
    content: [{ attachment: { contentType: 'text/plain', data: text.toString('base64'), title: unique(ctx, 'title') } }],
  };
}

export function patientDocument(ctx: CheckContext, patientId: string): DocumentReference {
  return {
    ...professionalDocument(ctx, patientId),
    type: { coding: [{ system: PATIENT_DOCUMENT_TYPE_SYSTEM, code: 'DOCPAT01' }] },
    category: [{ coding: [{ system: DOCUMENT_CLASS_SYSTEM, code: PATIENT_CLASS }] }],
  };
}

/** A patient-privacy Consent permitting or denying one Practitioner (or several, as actors of one provision). */
export function consentFor(ctx: CheckContext, patientId: string, practitioner: string | string[], type: 'permit' | 'deny'): Consent {
  const actors = (Array.isArray(practitioner) ? practitioner : [practitioner]).map((reference) => (
    { role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' }] }, reference: { reference } }
  ));
  return {
    resourceType: 'Consent',
    meta: { tag: [runTag(ctx)] },
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: new Date().toISOString(),
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: type === 'permit' ? 'OPTIN' : 'OPTOUT' }] },
    provision: { type, actor: actors },
  };
}

/** The patient's objection to emergency access: a deny with purpose BTG. */
export function emergencyObjection(ctx: CheckContext, patientId: string): Consent {
  const consent = consentFor(ctx, patientId, '', 'deny');
  return { ...consent, provision: { type: 'deny', purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'BTG' }] } };
}

export interface SpaceFixtures {
  plain: DocumentReference;
  masked: DocumentReference;
  hidden: DocumentReference;
}

/** Seeds the space as the run's system client: a permit for the professional, a plain, a masked and a hidden document. */
export async function seedSpace(ctx: CheckContext, actors: { patientId: string; professionalRef?: string }): Promise<SpaceFixtures> {
  if (actors.professionalRef) await createResource(ctx, consentFor(ctx, actors.patientId, actors.professionalRef, 'permit'), 'create the permit Consent for the professional');
  const plain = await createResource(ctx, professionalDocument(ctx, actors.patientId), 'create an unlabelled DocumentReference');
  const masked = await createResource(ctx, professionalDocument(ctx, actors.patientId, 'MASQUE_PS'), 'create a MASQUE_PS DocumentReference');
  const hidden = await createResource(ctx, professionalDocument(ctx, actors.patientId, 'INVISIBLE_PATIENT'), 'create an INVISIBLE_PATIENT DocumentReference');
  return { plain, masked, hidden };
}

/** The patient's regular doctors, as the space names them (Patient.generalPractitioner), or why the kit cannot tell. */
export interface RegularDoctors {
  /** `Practitioner/<id>` references. */
  refs: string[];
  /** Set when refs is empty. */
  unknown?: string;
}

/**
 * Reads `Patient/<id>` as the run's client for its `generalPractitioner`
 * Practitioners (DOMAIN: the regular doctor is the patient's general
 * practitioner), so that a check can name the regular doctor in a Consent or
 * find them among recipients and agents.
 */
export async function findRegularDoctors(ctx: CheckContext, patientId: string): Promise<RegularDoctors> {
  const res = await ctx.http.get(`Patient/${patientId}`);
  if (res.status !== 200) return { refs: [], unknown: `the run's client cannot read Patient/${patientId} (HTTP ${res.status}) to learn its generalPractitioner` };
  const patient = ctx.resource<Patient>(res, 'Patient', `Patient/${patientId}`);
  const refs = (patient.generalPractitioner ?? []).map((r) => localReference(r.reference)).filter((r): r is string => r?.startsWith('Practitioner/') === true);
  if (refs.length === 0) return { refs, unknown: `Patient/${patientId} names no Practitioner as generalPractitioner, so the kit cannot tell who the regular doctor is` };
  return { refs };
}

/** `Type/id` of a relative or absolute reference (without `_history`), or undefined. */
export function localReference(reference: string | undefined): string | undefined {
  const m = /(?:^|\/)([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference ?? '');
  return m?.[1];
}
