import type { Consent } from '@medplum/fhirtypes';
import type { KeyValueStore, StoreEngine, VersionRecord } from '../store/engine.js';
import { applyConsent } from './patient-facts.js';
import type { PatientFacts } from './patient-facts.js';

/** At most this many Consents naming one app in one space, and versions of each, are looked at. */
const MAX_CONSENTS = 200;
const MAX_VERSIONS = 1000;
/** kv namespace prefix of an app's Consent renewals in one space (`<prefix><patient>|<client id>`). */
const RENEWALS = 'app-consent-renewals:';

/** When the server replaced an app's Consent with a new one (epoch ms, both ends included). */
export interface ConsentRenewal {
  from: number;
  to: number;
}

/**
 * Notes that between `from` and `to` the server replaced the app's Consent in
 * `patient`'s space ('Patient/123') by a new one, on a new approval of the
 * app: recording it makes the earlier Consent inactive, then writes the new
 * one, a few milliseconds apart. That is no withdrawal, and the earlier
 * authorizations (another device's) go on (consentStoodSince). Kept in the
 * shared store, without expiry: an authorization may be refreshed for longer
 * than any token lives.
 */
export async function noteConsentRenewal(kv: KeyValueStore, patient: string, clientId: string, renewal: ConsentRenewal): Promise<void> {
  await kv.put<ConsentRenewal>(`${RENEWALS}${patient}|${clientId}`, `${renewal.from}`, renewal);
}

/**
 * Whether the holder's Consent for the app `clientId` in `patient`'s space
 * ('Patient/123') has stood without a break from `since` (epoch ms, when the
 * app was authorised) until now: at every moment some Consent version then
 * current permitted the app (with its granted scopes), as the policy reads
 * one (patient-facts.ts applyConsent).
 *
 * So a Consent withdrawn after the authorization (status inactive, deleted,
 * or its app taken out) ends it for good: making it active again, or a new
 * Consent for the app, does not revive the tokens of that authorization; the
 * app needs a new one. A new approval of the app (another device) replaces
 * its Consent, which is no break (noteConsentRenewal).
 *
 * Read from the store, which every replica shares: nothing is kept in memory.
 * Usually one query: a Consent permitting the app now, unchanged since before
 * `since`, settles it. Otherwise the versions of the app's Consents are
 * replayed in the order they were written. A Consent whose current version
 * no longer names the app is not looked at; should it have filled a break,
 * the answer is the safe one (no standing).
 */
export async function consentStoodSince(engine: StoreEngine, patient: string, clientId: string, since: number, now: number, fhirBase: string): Promise<boolean> {
  const consents = await engine.find({
    types: ['Consent'], filter: { 'idx.patient.r': patient, 'idx.actor.c': clientId }, sort: [['id', 1]], limit: MAX_CONSENTS,
  });
  const permits = (record: VersionRecord) => !record.deleted && permitsApp(record, patient, clientId, now, fhirBase);
  const current = consents.filter(permits);
  if (current.length === 0) return false;
  if (current.some((record) => record.ts <= since)) return true;
  const [histories, renewals] = await Promise.all([
    Promise.all(consents.map((c) => engine.history({ type: 'Consent', id: c.id, limit: MAX_VERSIONS }))),
    engine.kv.list<ConsentRenewal>(`${RENEWALS}${patient}|${clientId}`),
  ]);
  const versions = histories.flat().sort((a, b) => a.ts - b.ts || (a.hk < b.hk ? -1 : a.hk > b.hk ? 1 : 0));
  const permitting = new Map<string, boolean>();
  const stands = () => [...permitting.values()].some(Boolean);
  let i = 0;
  for (; i < versions.length && versions[i]!.ts <= since; i++) permitting.set(versions[i]!.id, permits(versions[i]!));
  if (!stands()) return false;
  // Each break (from the write that ended it to the one that restored it) must lie within a renewal.
  let breakFrom: number | undefined;
  while (i < versions.length) {
    const ts = versions[i]!.ts;
    for (; i < versions.length && versions[i]!.ts === ts; i++) permitting.set(versions[i]!.id, permits(versions[i]!));
    if (!stands()) breakFrom ??= ts;
    else if (breakFrom !== undefined) {
      const start = breakFrom;
      if (!renewals.some(({ value }) => value.from <= start && ts <= value.to)) return false;
      breakFrom = undefined;
    }
  }
  return breakFrom === undefined;
}

/** Whether this version of a Consent permits the app, as the policy would read it. */
function permitsApp(record: VersionRecord, patient: string, clientId: string, now: number, fhirBase: string): boolean {
  const facts: PatientFacts = {
    patient, exists: true, generalPractitioners: new Set(), careTeam: new Set(), representatives: new Set(),
    permitted: new Set(), denied: new Set(), emergencyRefused: false, appScopes: new Map(),
  };
  applyConsent(facts, JSON.parse(record.json) as Consent, now, fhirBase);
  return facts.permitted.has(`client:${clientId}`) && facts.appScopes.has(clientId);
}
