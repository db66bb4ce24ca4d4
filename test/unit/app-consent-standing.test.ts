import t from 'tap';
import { consentStoodSince, noteConsentRenewal } from '../../src/access/app-consent-standing.js';
import type { ConsentRenewal } from '../../src/access/app-consent-standing.js';
import { CLIENT_ID_SYSTEM, GRANTED_SCOPE_EXTENSION } from '../../src/access/patient-facts.js';
import type { HistoryQuery, KeyValueStore, StoreEngine, VersionRecord } from '../../src/store/engine.js';

const PATIENT = 'Patient/ines';
const FHIR_BASE = 'http://carnet.test/fhir';

/** The versions of an app's Consents, as a store would keep them: enough of a StoreEngine for the function. */
function store(versions: Array<{ id: string; ts: number; status: 'active' | 'inactive'; client?: string; deleted?: boolean }>, renewals: ConsentRenewal[] = []) {
  const records: VersionRecord[] = versions.map((v, n) => ({
    type: 'Consent', id: v.id, vid: versions.slice(0, n).filter((o) => o.id === v.id).length + 1, ts: v.ts, lastUpdated: new Date(v.ts).toISOString(),
    hk: `${new Date(v.ts).toISOString()}|${n}`, deleted: v.deleted ?? false, idx: {}, srt: {}, comp: [PATIENT], method: 'PUT',
    json: v.deleted ? '' : JSON.stringify({
      resourceType: 'Consent', status: v.status, patient: { reference: PATIENT },
      extension: [{ url: GRANTED_SCOPE_EXTENSION, valueString: 'patient/Observation.rs' }],
      provision: { type: 'permit', actor: [{ reference: { identifier: { system: CLIENT_ID_SYSTEM, value: v.client ?? 'coach' } } }] },
    }),
  }));
  const kv = new Map<string, ConsentRenewal>();
  const kvStore = {
    put: async (ns: string, key: string, value: ConsentRenewal) => { kv.set(`${ns}\u0000${key}`, value); },
    list: async (ns: string) => [...kv].filter(([k]) => k.startsWith(`${ns}\u0000`)).map(([k, value]) => ({ key: k.split('\u0000')[1]!, value })),
  } as unknown as KeyValueStore;
  const engine = {
    kv: kvStore,
    // The current version of each Consent (the filter on patient and app is the caller's; every Consent here matches).
    find: async () => [...new Set(records.map((r) => r.id))].map((id) => records.filter((r) => r.id === id).at(-1)!).filter((r) => !r.deleted),
    history: async (query: HistoryQuery) => records.filter((r) => r.id === query.id).reverse(),
  } as unknown as StoreEngine;
  return { engine, note: async () => { for (const r of renewals) await noteConsentRenewal(kvStore, PATIENT, 'coach', r); } };
}

const stood = async (s: ReturnType<typeof store>, since: number, now = 10_000) => {
  await s.note();
  return consentStoodSince(s.engine, PATIENT, 'coach', since, now, FHIR_BASE);
};

t.test('a Consent unchanged since the authorization stands', async (t) => {
  t.equal(await stood(store([{ id: 'c1', ts: 100, status: 'active' }]), 150), true);
  t.equal(await stood(store([{ id: 'c1', ts: 150, status: 'active' }]), 150), true, 'written at the very moment of the authorization');
});

t.test('no Consent permitting the app now: no standing', async (t) => {
  t.equal(await stood(store([{ id: 'c1', ts: 100, status: 'active' }, { id: 'c1', ts: 200, status: 'inactive' }]), 150), false, 'withdrawn');
  t.equal(await stood(store([{ id: 'c1', ts: 100, status: 'active', client: 'other-app' }]), 150), false, 'another app\'s Consent');
  t.equal(await stood(store([]), 150), false, 'none at all');
});

t.test('withdrawn after the authorization, then active again: the break ends it', async (t) => {
  const versions = [{ id: 'c1', ts: 100, status: 'active' }, { id: 'c1', ts: 200, status: 'inactive' }, { id: 'c1', ts: 300, status: 'active' }] as const;
  t.equal(await stood(store([...versions]), 150), false, 'a token of before the withdrawal');
  t.equal(await stood(store([...versions]), 350), true, 'an authorization after it');
  t.equal(await stood(store([...versions]), 250), false, 'one given during the withdrawal (none can be, but it would not stand)');
  t.equal(await stood(store([{ id: 'c1', ts: 100, status: 'active' }, { id: 'c1', ts: 200, status: 'inactive' }, { id: 'c2', ts: 300, status: 'active' }]), 150), false, 'a new Consent after a break does not bridge it');
  t.equal(await stood(store([{ id: 'c1', ts: 100, status: 'active' }, { id: 'c1', ts: 200, status: 'active', deleted: true }, { id: 'c2', ts: 300, status: 'active' }]), 150), false, 'a deleted Consent is a break');
});

t.test('a renewal (a new approval replacing the Consent) is no break', async (t) => {
  const versions = [{ id: 'c1', ts: 100, status: 'active' }, { id: 'c1', ts: 203, status: 'inactive' }, { id: 'c2', ts: 207, status: 'active' }] as const;
  t.equal(await stood(store([...versions], [{ from: 200, to: 210 }]), 150), true, 'the replacement falls within the renewal');
  t.equal(await stood(store([...versions]), 150), false, 'without the renewal noted, the same versions are a break');
  t.equal(await stood(store([...versions], [{ from: 205, to: 210 }]), 150), false, 'a renewal that does not cover the whole break');
  t.equal(await stood(store([...versions, { id: 'c2', ts: 400, status: 'inactive' }, { id: 'c2', ts: 500, status: 'active' }], [{ from: 200, to: 210 }]), 150), false, 'a later withdrawal still ends it');
  t.equal(await stood(store([{ id: 'c1', ts: 100, status: 'active' }, { id: 'c2', ts: 200, status: 'active' }, { id: 'c1', ts: 300, status: 'inactive' }]), 150), true, 'overlapping Consents: no break');
});
