import type { Principal } from '../auth/principal.js';
import type { Interaction } from '../auth/scopes.js';
import { grantedResourceScopes, scopeAllows } from '../auth/scopes.js';
import { HIDDEN_FROM_PATIENT, HIDDEN_FROM_PATIENT_MS, HIDDEN_FROM_REPRESENTATIVES, MASKED_FROM_PROFESSIONALS } from './labels.js';
import type { PatientFacts } from './patient-facts.js';

/** What is being attempted, as the policy sees it. */
export interface AccessRequest {
  principal: Principal;
  action: Interaction;
  resourceType: string;
  /** The id of the resource concerned, when one is named. */
  id?: string;
  /** Patient compartments of the resource concerned ('Patient/123'); absent when not known yet (prechecks). */
  compartments?: string[];
  /** Visibility label codes on the resource (labels.ts). */
  labels?: readonly string[];
  /** When the version was written (epoch ms), for the one-month rule. */
  writtenAt?: number;
  now?: number;
  /** Facts of each patient in `compartments`, loaded by the guard. */
  facts?: Map<string, PatientFacts>;
  /** Break-the-glass requested, with its reason. */
  breakTheGlass?: string;
  /** The caller created the resource concerned (a Subscription's owner, space/subscriptions), loaded by the guard. */
  ownedByCaller?: boolean;
}

export interface Decision {
  allow: boolean;
  /** The rule that decided, named so that the caller and the audit can tell why. */
  rule: string;
  reason: string;
  /** v3-ActReason purpose to record (BTG for an emergency access). */
  purpose?: string;
}

export const ACTION_NAMES: Record<Interaction, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/**
 * Resource types that hold no patient data and that any signed-in person may
 * read (reference data: who the professionals are, what a medication is).
 */
const SHARED_REFERENCE_TYPES = new Set(['Practitioner', 'PractitionerRole', 'Organization', 'Location', 'HealthcareService', 'Medication',
  'Substance', 'PlanDefinition', 'ActivityDefinition', 'Questionnaire', 'ValueSet', 'CodeSystem', 'StructureDefinition', 'SearchParameter', 'Endpoint']);

export function isSharedReferenceType(type: string): boolean {
  return SHARED_REFERENCE_TYPES.has(type);
}

/**
 * "granted by scope X", one string per scope rather than one per decision:
 * the audit log enters each reason in its batch's string table, and a string
 * made anew is hashed anew there, on every read.
 */
const scopeReasons = new Map<string, string>();
function grantedBy(scope: string): string {
  let reason = scopeReasons.get(scope);
  if (reason === undefined) {
    reason = `granted by scope ${scope}`;
    // Bounded, whatever scopes clients are granted.
    if (scopeReasons.size < 1000) scopeReasons.set(scope, reason);
  }
  return reason;
}

const allow = (rule: string, reason: string, purpose?: string): Decision => ({ allow: true, rule, reason, ...(purpose ? { purpose } : {}) });
const deny = (rule: string, reason: string): Decision => ({ allow: false, rule, reason });

/**
 * The one policy decision point (DOMAIN.md "Who may read what"). Denies by
 * default: a request is allowed only when a rule grants it, and the first rule
 * that decides names itself in the answer. There is no role for insurers,
 * mutual funds, banks or employers: such callers cannot hold a principal kind
 * that any rule grants.
 */
export function decide(request: AccessRequest): Decision {
  const { principal, action, resourceType } = request;
  // SMART `openid fhirUser`: the signed-in person may read the resource the id_token names as them
  // (through an app, only while the person's Consent for that app stands).
  if (action === 'r' && request.id !== undefined && principal.kind !== 'system' && principal.fhirUser === `${resourceType}/${request.id}`
    && principal.scope.split(' ').includes('fhirUser')) {
    const appConsented = principal.kind !== 'app' || request.compartments === undefined
      || request.facts?.get(`Patient/${principal.patient}`)?.permitted.has(`client:${principal.clientId}`);
    if (appConsented) return allow('fhir-user', 'the signed-in user reads their own resource');
  }
  const scopes = scopeAllows(principal.scopes, action, resourceType);
  if (principal.kind === 'system') {
    return scopes.length ? allow('system-scope', grantedBy(scopes[0]!.raw)) : deny('scope', `no granted scope allows ${ACTION_NAMES[action]} on ${resourceType}`);
  }
  if (principal.kind === 'admin') return deny('admin-no-patient-data', 'administrators manage the catalogue, not patient data');
  if (!scopes.length) return deny('scope', `no granted scope allows ${ACTION_NAMES[action]} on ${resourceType}`);
  // An app acting for a patient does nothing at all without her Consent: neither in her space nor outside
  // it (reference data, a Subscription), nor a search before any result is loaded (which would otherwise
  // answer an empty Bundle where a read is refused). Judged whenever the guard loaded her facts, which it
  // does for every decision about such an app (access/guard.ts factsNeeded).
  if (principal.kind === 'app') {
    const own = request.facts?.get(`Patient/${principal.patient}`);
    const appCheck = own && checkApp(request, own);
    if (appCheck) return appCheck;
  }

  const compartments = request.compartments;
  if (compartments === undefined) return allow('precheck', 'scope allows the interaction; the resource is checked once loaded');
  if (compartments.length === 0) {
    if (SHARED_REFERENCE_TYPES.has(resourceType) && (action === 'r' || action === 's')) return allow('shared-reference-data', `${resourceType} holds no patient data`);
    if (principal.kind === 'practitioner' && action === 'c' && resourceType !== 'AuditEvent') return allow('professional-outside-space', 'a professional may create resources outside any space');
    // A document's bytes belong to no compartment: whoever may add documents may store them;
    // reading them goes through the Binary's securityContext (the document), see routes/binary.ts.
    if (action === 'c' && resourceType === 'Binary') return allow('document-bytes', 'the bytes of a document are read through the document they belong to');
    // A Subscription belongs to no space: who created it (a professional's or a patient's app) reads, finds
    // (searches and histories, access/guard.ts searchRestriction), changes and cancels it.
    if (request.ownedByCaller && resourceType === 'Subscription' && action !== 'c') {
      return allow('subscription-owner', 'the creator of a Subscription manages it');
    }
    return deny('outside-space', `${resourceType} outside a patient space is not available to ${principal.kind}`);
  }
  // A resource in several compartments must be allowed for each of them. Except the trail: an access
  // to a resource shared by two spaces is an access to each, and each holder is told of it (the
  // entities naming what the reader may not read are left out, access/hidden-references.ts).
  const anyOf = resourceType === 'AuditEvent' && (action === 'r' || action === 's');
  let last: Decision | undefined;
  for (const patient of compartments) {
    const decision = decideForPatient(request, patient, request.facts?.get(patient));
    if (anyOf ? decision.allow : !decision.allow) return decision;
    last = decision;
  }
  return last!;
}

function decideForPatient(request: AccessRequest, patient: string, facts: PatientFacts | undefined): Decision {
  const { principal, action } = request;
  const labels = request.labels ?? [];
  const now = request.now ?? Date.now();
  // An app acts as the person who launched it; its Consent is checked on top.
  const person = principal.kind === 'app' ? (principal.fhirUser?.startsWith('RelatedPerson/') ? 'related-person' : 'patient') : principal.kind;
  switch (person) {
    case 'patient': {
      if (principal.patient === undefined || `Patient/${principal.patient}` !== patient) return deny('own-space-only', 'a patient reaches only their own space');
      const appCheck = checkApp(request, facts);
      if (appCheck) return appCheck;
      if (labels.includes(HIDDEN_FROM_PATIENT) && (request.writtenAt ?? 0) > now - HIDDEN_FROM_PATIENT_MS && action !== 'c') {
        return deny('hidden-from-patient', 'a professional marked this item not visible to the patient for one month');
      }
      return allow('holder', 'the holder sees their own space');
    }
    case 'related-person': {
      if (principal.patient === undefined || `Patient/${principal.patient}` !== patient) return deny('represented-space-only', 'a representative reaches only the space of the person they represent');
      if (!facts?.representatives.has(principal.fhirUser ?? '')) return deny('not-a-representative', `${principal.fhirUser ?? 'this person'} is not a legal representative of ${patient}`);
      const appCheck = checkApp(request, facts);
      if (appCheck) return appCheck;
      if (labels.includes(HIDDEN_FROM_REPRESENTATIVES)) return deny('hidden-from-representatives', 'this item is not visible to legal representatives');
      if (labels.includes(HIDDEN_FROM_PATIENT) && (request.writtenAt ?? 0) > now - HIDDEN_FROM_PATIENT_MS && action !== 'c') {
        return deny('hidden-from-patient', 'a professional marked this item not visible to the patient for one month');
      }
      return allow('legal-representative', 'a legal representative manages the space of the person they represent');
    }
    case 'practitioner': {
      const me = principal.fhirUser ?? '';
      // A token bound to a launch patient reaches only that patient's space.
      if (principal.patient !== undefined && `Patient/${principal.patient}` !== patient) return deny('launch-patient-only', 'this token is bound to another patient (EHR launch context)');
      if (!facts) return deny('unknown-patient', `${patient} is unknown`);
      // Who may see the space is the patient's decision (and their representatives'): a professional,
      // the regular doctor included, reads the Consents but never writes them (they would grant themselves or a colleague).
      if (request.resourceType === 'Consent' && action !== 'r' && action !== 's') return deny('consent-by-patient', "a patient's Consents are given or withdrawn by the patient (or their representative) only");
      if (facts.generalPractitioners.has(me)) return allow('regular-doctor', 'the regular doctor sees the whole space');
      // The care team is deemed authorised by the patient, so who is in it is the patient's choice, or the
      // regular doctor's who coordinates the care: a consented or member professional adding a colleague
      // would give access the patient never gave. Teams come from them, or from the care institution's software.
      if (request.resourceType === 'CareTeam' && action !== 'r' && action !== 's') {
        return deny('care-team-by-patient-or-doctor', "a patient's care team is formed by the patient (or their representative), the regular doctor or the care institution's software");
      }
      if (facts.denied.has(me)) return deny('blocked-by-patient', 'the patient blocked this professional');
      const authorised = facts.permitted.has(me) || facts.careTeam.has(me);
      if (authorised) {
        if (labels.includes(MASKED_FROM_PROFESSIONALS)) return deny('masked-from-professionals', 'the patient masked this document from professionals');
        return allow(facts.careTeam.has(me) ? 'care-team' : 'patient-consent', 'authorised by the patient');
      }
      if (request.breakTheGlass && (action === 'r' || action === 's')) {
        if (facts.emergencyRefused) return deny('emergency-access-refused', 'the patient refused emergency access beforehand');
        if (labels.includes(MASKED_FROM_PROFESSIONALS)) return deny('masked-from-professionals', 'the patient masked this document from professionals');
        return allow('break-the-glass', `emergency access: ${request.breakTheGlass}`, 'BTG');
      }
      return deny('no-consent', 'this professional has no authorisation from the patient');
    }
    default:
      return deny('default-deny', `no rule grants ${principal.kind} access`);
  }
}

/** An app acting for a person works only while the person's Consent for it stands. */
function checkApp(request: AccessRequest, facts: PatientFacts | undefined): Decision | undefined {
  const { principal } = request;
  if (principal.kind !== 'app') return undefined;
  const granted = facts?.appScopes.get(principal.clientId);
  if (!facts?.permitted.has(`client:${principal.clientId}`) || granted === undefined) {
    return deny('app-without-consent', `the holder has not consented to (or withdrew) the app ${principal.clientId}`);
  }
  const consented = grantedResourceScopes(granted);
  if (!scopeAllows(consented, request.action, request.resourceType).length) {
    return deny('app-consent-scope', `the holder's consent does not cover ${ACTION_NAMES[request.action]} on ${request.resourceType}`);
  }
  return undefined;
}
