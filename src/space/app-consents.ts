import type { Consent } from '@medplum/fhirtypes';
import { parseScopes } from '../auth/scopes.js';
import { CLIENT_ID_SYSTEM, GRANTED_SCOPE_EXTENSION, loadPatientFacts } from '../access/patient-facts.js';
import type { PreparedWrite, Repository } from '../store/repository.js';

export interface AppConsentInput {
  /** Patient id (without 'Patient/'). */
  patient: string;
  clientId: string;
  clientName: string;
  /** The scopes the person approved on the consent screen. */
  scope: string;
  /** Who approved: the holder or their legal representative ('Patient/1', 'RelatedPerson/2'). */
  performer?: string;
  now: number;
}

/**
 * The catalogue rule "an app reads or writes a space only with the holder's
 * express consent, per app, revocable at any time", as FHIR data: approving an
 * app writes a permit Consent naming the app (and the approved scopes); an
 * earlier Consent for the same app is made inactive in the same commit, so
 * withdrawing one Consent (status inactive) withdraws the app.
 */
export async function recordAppConsent(repository: Repository, input: AppConsentInput): Promise<string> {
  const patient = `Patient/${input.patient}`;
  const previous = await repository.engine.find({
    types: ['Consent'],
    filter: { 'idx.patient.r': patient, 'idx.status.c': 'active', 'idx.actor.c': input.clientId },
    sort: [['id', 1]], limit: 100,
  });
  const writes: PreparedWrite[] = [];
  for (const record of previous) {
    const consent = JSON.parse(record.json) as Consent;
    if (!consent.provision?.actor?.some((a) => a.reference?.identifier?.system === CLIENT_ID_SYSTEM && a.reference.identifier.value === input.clientId)) continue;
    writes.push(await repository.prepareUpdate('Consent', record.id, { ...consent, status: 'inactive' }, { ifMatch: `W/"${record.vid}"` }));
  }
  const types = [...new Set(parseScopes(input.scope).resources.map((s) => s.resourceType))];
  const consent: Consent = {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
    patient: { reference: patient },
    dateTime: new Date(input.now).toISOString(),
    ...(input.performer ? { performer: [{ reference: input.performer }] } : {}),
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    extension: [{ url: GRANTED_SCOPE_EXTENSION, valueString: input.scope }],
    provision: {
      type: 'permit',
      period: { start: new Date(input.now).toISOString() },
      actor: [{
        role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP', display: 'information recipient' }] },
        reference: { identifier: { system: CLIENT_ID_SYSTEM, value: input.clientId }, display: input.clientName },
      }],
      action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'access' }] }],
      ...(types.includes('*') ? {} : { class: types.map((code) => ({ system: 'http://hl7.org/fhir/resource-types', code })) }),
    },
  };
  const created = await repository.prepareCreate(consent);
  writes.push(created);
  await repository.commit(writes);
  return created.result.record.id;
}

/** Whether the app's Consent still stands (refresh tokens stop the moment it is withdrawn). */
export async function isAppConsentActive(repository: Repository, patient: string, clientId: string, now: number, fhirBase: string): Promise<boolean> {
  const facts = await loadPatientFacts(repository.engine, `Patient/${patient}`, now, fhirBase);
  return facts.permitted.has(`client:${clientId}`) && facts.appScopes.has(clientId);
}
