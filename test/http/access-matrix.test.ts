import t from 'tap';
import type { LightMyRequestResponse } from 'fastify';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { Space, UserTokens } from '../helpers/people.js';
import { APPS, buildSpace, DAY_MS, document, FHIR_JSON, observation, seed, signIn, VITAL_SIGNS } from '../helpers/people.js';
import { getAccessToken, postTokenForm } from '../helpers/tokens.js';

/**
 * The access policy seen from outside: real tokens from the real authorize
 * flow (sign-in and consent pages), real HTTP requests, and for each actor x
 * action x resource the status a user gets, the rule a refusal names, and the
 * exact ids a search returns.
 */

type Actor = 'alice' | 'parent' | 'doctor' | 'otherPro' | 'permittedPro' | 'careTeamPro' | 'blockedPro' | 'coach' | 'narrowSystem';
const ACTORS: Actor[] = ['alice', 'parent', 'doctor', 'otherPro', 'permittedPro', 'careTeamPro', 'blockedPro', 'coach', 'narrowSystem'];

const ALICE = ['obsVital', 'obsLab', 'docPlain', 'docMasked', 'docHidden', 'docHidden30', 'docHiddenOld', 'docNoRep', 'audit'] as const;
const BOB = ['bobObs', 'bobDoc'] as const;
const MINOR = ['minorObs', 'minorNoRep', 'minorHidden'] as const;
type Key = (typeof ALICE)[number] | (typeof BOB)[number] | (typeof MINOR)[number];

/** 'ok' or the rule that must refuse. */
type Expect = 'ok' | string;
const all = (keys: readonly Key[], e: Expect): Partial<Record<Key, Expect>> => Object.fromEntries(keys.map((k) => [k, e]));

/** What a read answers, per actor and resource (the matrix). */
const READ: Record<Actor, Record<Key, Expect>> = {
  alice: {
    obsVital: 'ok', obsLab: 'ok', docPlain: 'ok', docMasked: 'ok', docHidden: 'hidden-from-patient', docHidden30: 'hidden-from-patient',
    docHiddenOld: 'ok', docNoRep: 'ok', audit: 'ok', ...all(BOB, 'own-space-only'), ...all(MINOR, 'own-space-only'),
  } as Record<Key, Expect>,
  parent: {
    ...all(ALICE, 'represented-space-only'), ...all(BOB, 'represented-space-only'),
    minorObs: 'ok', minorNoRep: 'hidden-from-representatives', minorHidden: 'hidden-from-patient',
  } as Record<Key, Expect>,
  // The regular doctor sees masked documents too, and a deny Consent naming him changes nothing.
  doctor: { ...all(ALICE, 'ok'), ...all(BOB, 'no-consent'), ...all(MINOR, 'ok') } as Record<Key, Expect>,
  otherPro: { ...all(ALICE, 'no-consent'), ...all(BOB, 'no-consent'), ...all(MINOR, 'no-consent') } as Record<Key, Expect>,
  permittedPro: { ...all(ALICE, 'patient-consent'), docMasked: 'masked-from-professionals', ...all(BOB, 'no-consent'), ...all(MINOR, 'no-consent') } as Record<Key, Expect>,
  careTeamPro: { ...all(ALICE, 'care-team'), docMasked: 'masked-from-professionals', ...all(BOB, 'no-consent'), ...all(MINOR, 'no-consent') } as Record<Key, Expect>,
  // Blocked although he also holds a permit Consent.
  blockedPro: { ...all(ALICE, 'blocked-by-patient'), ...all(BOB, 'no-consent'), ...all(MINOR, 'no-consent') } as Record<Key, Expect>,
  // The holder approved this app for patient/Observation.rs only.
  coach: {
    ...all(ALICE, 'scope'), obsVital: 'ok', obsLab: 'ok', bobObs: 'own-space-only', bobDoc: 'scope', minorObs: 'own-space-only', minorNoRep: 'scope', minorHidden: 'scope',
  } as Record<Key, Expect>,
  narrowSystem: { ...all(ALICE, 'scope'), ...all(BOB, 'scope'), ...all(MINOR, 'scope'), obsVital: 'ok', obsLab: 'ok', bobObs: 'ok', minorObs: 'ok' } as Record<Key, Expect>,
};
// Rules that grant (their name is not a refusal).
const GRANTING = new Set(['ok', 'patient-consent', 'care-team']);
const allows = (e: Expect) => GRANTING.has(e);

interface World {
  space: Space;
  ids: Record<Key, string>;
  types: Record<Key, string>;
  auth: Record<Actor, string>;
  coachTokens: UserTokens;
}

async function buildWorld(): Promise<World> {
  const space = await buildSpace(t);
  const { alice, bob, minor } = space;
  const ids = {} as Record<Key, string>;
  const types = {} as Record<Key, string>;
  const put = async (key: Key, resource: Record<string, unknown>) => {
    ids[key] = await seed(space, resource);
    types[key] = String(resource.resourceType);
  };
  await put('docPlain', document(alice));
  await put('docMasked', document(alice, 'MASQUE_PS'));
  await put('docHidden', document(alice, 'INVISIBLE_PATIENT'));
  await put('docNoRep', document(alice, 'INVISIBLE_REPRESENTANTS_LEGAUX'));
  // Written 30 and 32 days ago (the server's clock shifted back while writing).
  space.setClockOffset(-30 * DAY_MS);
  await put('docHidden30', document(alice, 'INVISIBLE_PATIENT', 'hidden 30 days ago'));
  space.setClockOffset(-32 * DAY_MS);
  await put('docHiddenOld', document(alice, 'INVISIBLE_PATIENT', 'hidden 32 days ago'));
  space.setClockOffset(0);
  await put('bobObs', observation(bob, 'vital-signs'));
  await put('bobDoc', document(bob));
  await put('minorObs', observation(minor, 'vital-signs'));
  await put('minorNoRep', document(minor, 'INVISIBLE_REPRESENTANTS_LEGAUX'));
  await put('minorHidden', document(minor, 'INVISIBLE_PATIENT'));
  await put('obsVital', observation(alice, 'vital-signs'));
  await put('obsLab', observation(alice, 'laboratory', {
    derivedFrom: [`DocumentReference/${ids.docPlain}`, `DocumentReference/${ids.docMasked}`, `DocumentReference/${ids.docHidden}`, `DocumentReference/${ids.bobDoc}`].map((reference) => ({ reference })),
  }));

  const pro = (username: string) => signIn(space.app, { clientId: APPS.pro, username, scope: 'user/*.cruds' });
  const [aliceT, parentT, doctorT, otherT, permittedT, careT, blockedT] = [
    await signIn(space.app, { clientId: APPS.holder, username: space.users.alice, scope: 'launch/patient patient/*.cruds' }),
    await signIn(space.app, { clientId: APPS.holder, username: space.users.parent, scope: 'launch/patient patient/*.cruds' }),
    await pro(space.users.doctor), await pro(space.users.otherPro), await pro(space.users.permittedPro), await pro(space.users.careTeamPro), await pro(space.users.blockedPro),
  ];
  const coachTokens = await signIn(space.app, {
    clientId: APPS.catalogue, username: space.users.alice, scope: 'launch/patient offline_access patient/Observation.rs patient/Observation.c patient/DocumentReference.rs',
    untick: ['patient/Observation.c', 'patient/DocumentReference.rs'],
  });
  const b = (x: UserTokens) => `Bearer ${x.access_token}`;
  const auth: Record<Actor, string> = {
    alice: b(aliceT), parent: b(parentT), doctor: b(doctorT), otherPro: b(otherT), permittedPro: b(permittedT), careTeamPro: b(careT), blockedPro: b(blockedT),
    coach: b(coachTokens), narrowSystem: `Bearer ${await getAccessToken(space.app, space.narrowSystem, 'system/Observation.rs')}`,
  };
  // An AuditEvent in alice's compartment: the trail of the accesses above.
  await readAs(space, auth.alice, `Observation/${ids.obsVital}`);
  await space.app.audit.settle();
  const trail = await space.app.inject({ url: `/fhir/AuditEvent?patient=${alice}&_count=1`, headers: { authorization: await space.systemAuth() } });
  ids.audit = (trail.json() as Bundle).entry![0]!.resource!.id!;
  types.audit = 'AuditEvent';
  return { space, ids, types, auth, coachTokens };
}

function readAs(space: Space, authorization: string, path: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return space.app.inject({ url: `/fhir/${path}`, headers: { authorization, ...headers } });
}

/** The rule a 403 names, from its OperationOutcome. */
function ruleOf(res: LightMyRequestResponse): string | undefined {
  const outcome = res.json() as { resourceType: string; issue: Array<{ diagnostics?: string }> };
  if (outcome.resourceType !== 'OperationOutcome') return undefined;
  return /\(rule ([\w-]+)\)/.exec(outcome.issue[0]?.diagnostics ?? '')?.[1];
}

const idsOf = (bundle: Bundle, mode?: 'match' | 'include') =>
  (bundle.entry ?? []).filter((e) => !mode || e.search?.mode === mode).map((e) => (e.resource as Resource).id!).sort();

t.test('access matrix over HTTP', async (t) => {
  const w = await buildWorld();
  const { space, ids, types, auth } = w;
  const keys = Object.keys(READ.alice) as Key[];
  const keyOf = new Map(keys.map((k) => [ids[k], k]));

  t.test('read: actor x resource x label x consent', async (t) => {
    for (const actor of ACTORS) {
      for (const key of keys) {
        const expected = READ[actor][key];
        const res = await readAs(space, auth[actor], `${types[key]}/${ids[key]}`);
        if (allows(expected)) t.equal(res.statusCode, 200, `${actor} reads ${key}`);
        else {
          t.equal(res.statusCode, 403, `${actor} is refused ${key}`);
          t.equal(ruleOf(res), expected, `${actor} / ${key}: the refusal names rule ${expected}`);
        }
      }
    }
  });

  t.test('history of an instance keeps only the versions a read would show', async (t) => {
    for (const actor of ACTORS) {
      for (const key of ['obsVital', 'docMasked', 'docHidden', 'bobObs', 'minorNoRep'] as const) {
        const expected = READ[actor][key];
        const res = await readAs(space, auth[actor], `${types[key]}/${ids[key]}/_history`);
        if (res.statusCode === 403) {
          // Refused before loading anything: only when no scope covers the type.
          t.equal(ruleOf(res), 'scope', `${actor} / ${key} history: refused by scope`);
          t.equal(expected, 'scope', `${actor} / ${key} history refused only when a read is refused by scope`);
          continue;
        }
        t.equal(res.statusCode, 200, `${actor} / ${key} history answers`);
        t.equal((res.json() as Bundle).entry?.length ?? 0, allows(expected) ? 1 : 0, `${actor} / ${key} history ${allows(expected) ? 'shows' : 'hides'} the version`);
      }
    }
  });

  t.test('search returns exactly what a read allows (matches, _total)', async (t) => {
    for (const actor of ACTORS) {
      for (const type of ['Observation', 'DocumentReference']) {
        const res = await readAs(space, auth[actor], `${type}?_total=accurate&_count=100`);
        const readable = keys.filter((k) => types[k] === type && allows(READ[actor][k]));
        const anyScope = keys.some((k) => types[k] === type && READ[actor][k] !== 'scope');
        if (!anyScope) {
          t.equal(res.statusCode, 403, `${actor} cannot search ${type}`);
          t.equal(ruleOf(res), 'scope', `${actor} / ${type} search refused by scope`);
          continue;
        }
        t.equal(res.statusCode, 200, `${actor} searches ${type}`);
        const bundle = res.json() as Bundle;
        t.same(idsOf(bundle).map((id) => keyOf.get(id) ?? id).sort(), readable.sort(), `${actor} / ${type}: exactly the readable ids`);
        t.equal(bundle.total, readable.length, `${actor} / ${type}: _total counts only those`);
      }
    }
  });

  t.test('_include obeys the policy too', async (t) => {
    const included: Key[] = ['docPlain', 'docMasked', 'docHidden', 'bobDoc'];
    for (const actor of ACTORS) {
      const res = await readAs(space, auth[actor], `Observation?_id=${ids.obsLab}&_include=Observation:derived-from`);
      if (res.statusCode === 403) {
        t.equal(READ[actor].obsLab, 'scope', `${actor} cannot search Observation at all`);
        continue;
      }
      const bundle = res.json() as Bundle;
      const matchVisible = allows(READ[actor].obsLab);
      t.same(idsOf(bundle, 'match'), matchVisible ? [ids.obsLab] : [], `${actor}: the observation ${matchVisible ? 'matches' : 'is hidden'}`);
      const expected = matchVisible ? included.filter((k) => allows(READ[actor][k])).map((k) => ids[k]).sort() : [];
      t.same(idsOf(bundle, 'include'), expected, `${actor}: only readable documents are included`);
    }
  });

  t.test('a patient token cannot reach another compartment by naming it', async (t) => {
    for (const param of [`subject=${space.bob}`, `patient=${space.bob}`, `_id=${ids.bobObs}`]) {
      const res = await readAs(space, auth.alice, `Observation?${param}`);
      t.equal(res.statusCode, 200);
      t.same(idsOf(res.json() as Bundle), [], `alice searching ${param} gets nothing`);
    }
    const other = await readAs(space, auth.alice, `Patient/${space.bob.slice(8)}`);
    t.equal(other.statusCode, 403, 'alice cannot read bob');
    t.equal(ruleOf(other), 'own-space-only');
    t.equal((await readAs(space, auth.alice, `Patient/${space.alice.slice(8)}`)).statusCode, 200, 'alice reads her own Patient');
    t.equal((await readAs(space, auth.alice, 'Observation/does-not-exist')).statusCode, 404, 'an unknown id is 404');
  });

  t.test('writes: create, update, delete per actor', async (t) => {
    const rows: Array<{ actor: Actor; patient: string; expect: Expect }> = [
      { actor: 'alice', patient: space.alice, expect: 'ok' },
      { actor: 'alice', patient: space.bob, expect: 'own-space-only' },
      { actor: 'parent', patient: space.minor, expect: 'ok' },
      { actor: 'parent', patient: space.alice, expect: 'represented-space-only' },
      { actor: 'doctor', patient: space.alice, expect: 'ok' },
      { actor: 'doctor', patient: space.bob, expect: 'no-consent' },
      { actor: 'otherPro', patient: space.alice, expect: 'no-consent' },
      { actor: 'permittedPro', patient: space.alice, expect: 'ok' },
      { actor: 'careTeamPro', patient: space.alice, expect: 'ok' },
      { actor: 'blockedPro', patient: space.alice, expect: 'blocked-by-patient' },
      { actor: 'coach', patient: space.alice, expect: 'scope' },
      { actor: 'narrowSystem', patient: space.alice, expect: 'scope' },
    ];
    for (const { actor, patient, expect } of rows) {
      const name = `${actor} in ${patient}`;
      const headers = { authorization: auth[actor], 'content-type': FHIR_JSON };
      const created = await space.app.inject({ method: 'POST', url: '/fhir/Observation', headers, payload: observation(patient, 'vital-signs') });
      const target = await seed(space, observation(patient, 'vital-signs'));
      const updated = await space.app.inject({ method: 'PUT', url: `/fhir/Observation/${target}`, headers, payload: { ...observation(patient, 'vital-signs', { status: 'amended' }), id: target } });
      const deleted = await space.app.inject({ method: 'DELETE', url: `/fhir/Observation/${target}`, headers: { authorization: auth[actor] } });
      if (expect === 'ok') {
        t.equal(created.statusCode, 201, `${name}: create`);
        t.equal(updated.statusCode, 200, `${name}: update`);
        t.equal(deleted.statusCode, 200, `${name}: delete`);
      } else {
        for (const [what, res] of [['create', created], ['update', updated], ['delete', deleted]] as const) {
          t.equal(res.statusCode, 403, `${name}: ${what} refused`);
          t.equal(ruleOf(res), expect, `${name}: ${what} names rule ${expect}`);
        }
        const still = await space.app.inject({ url: `/fhir/Observation/${target}`, headers: { authorization: await space.systemAuth() } });
        t.equal(still.json().status, 'final', `${name}: the refused update and delete changed nothing`);
      }
    }
  });

  t.test('the holder reads who looked at her space; nobody changes an AuditEvent', async (t) => {
    await space.app.audit.settle();
    const res = await readAs(space, auth.alice, `AuditEvent?patient=${space.alice}&_count=200`);
    t.equal(res.statusCode, 200);
    const events = ((res.json() as Bundle).entry ?? []).map((e) => e.resource as { agent: Array<{ who?: { reference?: string } }>; outcome: string; entity?: Array<{ what?: { reference?: string } }> });
    const who = new Set(events.flatMap((e) => e.agent.map((a) => a.who?.reference)));
    for (const person of [space.doctor, space.permittedPro, space.otherPro, space.blockedPro]) t.ok(who.has(person), `alice sees that ${person} came`);
    t.ok(events.some((e) => e.outcome === '4' && e.agent[0]?.who?.reference === space.otherPro), 'refused attempts are in the trail');
    // The patient compartment of AuditEvent holds events about her and events where she acted (FHIR's definition).
    t.ok(events.every((e) => e.entity?.some((x) => x.what?.reference === space.alice) || e.agent[0]?.who?.reference === space.alice), 'only events about her or by her');
    const bobsTrail = await readAs(space, auth.alice, `AuditEvent?patient=${space.bob}&_count=200`);
    const seenOfBob = ((bobsTrail.json() as Bundle).entry ?? []).map((e) => e.resource as { agent: Array<{ who?: { reference?: string } }> });
    t.ok(seenOfBob.every((e) => e.agent[0]?.who?.reference === space.alice), 'of bob\'s trail, only her own attempts');
    const doctorOnBob = await readAs(space, await space.systemAuth(), `AuditEvent?patient=${space.bob}&agent=${space.doctor}`);
    t.ok(idsOf(doctorOnBob.json() as Bundle).length > 0, 'although bob\'s trail holds others\' attempts');

    for (const [actor, authorization] of [['alice', auth.alice], ['doctor', auth.doctor], ['system', await space.systemAuth()]] as const) {
      const current = (await readAs(space, await space.systemAuth(), `AuditEvent/${ids.audit}`)).json();
      const put = await space.app.inject({ method: 'PUT', url: `/fhir/AuditEvent/${ids.audit}`, headers: { authorization, 'content-type': FHIR_JSON }, payload: { ...current, outcome: '0' } });
      t.equal(put.statusCode, 405, `${actor} cannot update an AuditEvent`);
      const del = await space.app.inject({ method: 'DELETE', url: `/fhir/AuditEvent/${ids.audit}`, headers: { authorization } });
      t.equal(del.statusCode, 405, `${actor} cannot delete an AuditEvent`);
    }
    t.equal((await readAs(space, await space.systemAuth(), `AuditEvent/${ids.audit}`)).json().meta.versionId, '1', 'the event is unchanged');
  });

  t.test('break-the-glass', async (t) => {
    const btg = { 'x-break-the-glass': 'unconscious at the emergency department' };
    const read = await readAs(space, auth.otherPro, `Observation/${ids.obsVital}`, btg);
    t.equal(read.statusCode, 200, 'a professional without consent reads in an emergency');
    const search = await readAs(space, auth.otherPro, `Observation?patient=${space.alice}`, btg);
    t.same(idsOf(search.json() as Bundle).filter((id) => keyOf.has(id)).sort(), [ids.obsLab, ids.obsVital].sort(), 'and searches her space');
    const masked = await readAs(space, auth.otherPro, `DocumentReference/${ids.docMasked}`, btg);
    t.equal(masked.statusCode, 403, 'masked documents stay masked');
    t.equal(ruleOf(masked), 'masked-from-professionals');
    const refused = await readAs(space, auth.otherPro, `Observation/${ids.bobObs}`, btg);
    t.equal(refused.statusCode, 403, 'not when the patient refused emergency access');
    t.equal(ruleOf(refused), 'emergency-access-refused');
    const blocked = await readAs(space, auth.blockedPro, `Observation/${ids.obsVital}`, btg);
    t.equal(blocked.statusCode, 403, 'a blocked professional stays blocked');
    const write = await space.app.inject({ method: 'POST', url: '/fhir/Observation', headers: { authorization: auth.otherPro, 'content-type': FHIR_JSON, ...btg }, payload: observation(space.alice, 'vital-signs') });
    t.equal(write.statusCode, 403, 'emergency access reads, it does not write');
    for (const reason of ['', ' ', 'ok']) {
      const short = await readAs(space, auth.otherPro, `Observation/${ids.obsVital}`, { 'x-break-the-glass': reason });
      t.equal(short.statusCode, 400, `a reason of ${JSON.stringify(reason)} tells nobody why: 400, not an ordinary refusal`);
      t.match(short.json().issue[0].details.coding[0], { code: 'FHIR_ERR_ACCESS_BTG_REASON' });
    }

    await space.app.audit.settle();
    const system = await space.systemAuth();
    const trail = ((await readAs(space, system, `AuditEvent?patient=${space.alice}&_count=500`)).json() as Bundle).entry!.map((e) => e.resource as { purposeOfEvent?: Array<{ coding: Array<{ code: string }> }>; agent: Array<{ who?: { reference?: string } }>; entity?: Array<{ what?: { reference?: string } }> });
    const emergency = trail.filter((e) => e.purposeOfEvent?.some((p) => p.coding.some((c) => c.code === 'BTG')));
    t.ok(emergency.some((e) => e.agent[0]?.who?.reference === space.otherPro && e.entity?.some((x) => x.what?.reference === `Observation/${ids.obsVital}`)), 'the read is audited with purpose BTG');
    const notices = ((await readAs(space, system, `Communication?subject=${space.alice}`)).json() as Bundle).entry?.map((e) => e.resource as { recipient?: Array<{ reference?: string }>; category?: Array<{ coding: Array<{ code: string }> }>; payload?: Array<{ contentString?: string }> }) ?? [];
    const told = notices.filter((n) => n.category?.some((c) => c.coding.some((x) => x.code === 'emergency-access')));
    t.ok(told.length >= 1, 'a notification is written');
    t.ok(told.every((n) => n.payload?.[0]?.contentString?.includes('unconscious at the emergency department')), 'it carries the reason');
    const recipients = new Set(told.flatMap((n) => n.recipient?.map((r) => r.reference)));
    t.ok(recipients.has(space.alice) && recipients.has(space.doctor), 'to the patient and her regular doctor');
    const aliceSees = await readAs(space, auth.alice, `Communication?subject=${space.alice}`);
    t.ok(idsOf(aliceSees.json() as Bundle).length >= 1, 'the holder can read the notice');
    const bobNotices = ((await readAs(space, system, `Communication?subject=${space.bob}`)).json() as Bundle).entry ?? [];
    const bobTold = bobNotices.filter((e) => (e.resource as { category?: Array<{ coding: Array<{ code: string }> }> }).category?.some((c) => c.coding.some((x) => x.code === 'emergency-access')));
    t.equal(bobTold.length, 0, 'no emergency notice when access was refused');
  });

  t.test('v2 search-restricted scopes: only vital signs come back and only vital signs can be written', async (t) => {
    const scope = `launch/patient patient/Observation.rs?category=${VITAL_SIGNS} patient/Observation.c?category=${VITAL_SIGNS}`;
    const tokens = await signIn(space.app, { clientId: APPS.vitals, username: space.users.alice, scope });
    t.equal(tokens.scope.split(' ').sort().join(' '), scope.split(' ').sort().join(' '), 'the restricted scopes are granted as asked');
    const authorization = `Bearer ${tokens.access_token}`;
    const found = await readAs(space, authorization, 'Observation?_count=100');
    t.equal(found.statusCode, 200);
    const seen = (found.json() as Bundle).entry!.map((e) => e.resource as { subject: { reference: string }; category: Array<{ coding: Array<{ code: string }> }> });
    t.ok(seen.length >= 1, 'vital signs come back');
    t.ok(seen.every((o) => o.category[0]!.coding[0]!.code === 'vital-signs' && o.subject.reference === space.alice), 'only alice\'s vital signs');
    t.ok(!idsOf(found.json() as Bundle).includes(ids.obsLab), 'the laboratory result is not among them');
    t.equal((await readAs(space, authorization, `Observation/${ids.obsVital}`)).statusCode, 200, 'reads a vital sign');
    const lab = await readAs(space, authorization, `Observation/${ids.obsLab}`);
    t.equal(lab.statusCode, 403, 'cannot read a laboratory result');
    t.equal(ruleOf(lab), 'scope-query');
    const headers = { authorization, 'content-type': FHIR_JSON };
    t.equal((await space.app.inject({ method: 'POST', url: '/fhir/Observation', headers, payload: observation(space.alice, 'vital-signs') })).statusCode, 201, 'writes a vital sign');
    const wrong = await space.app.inject({ method: 'POST', url: '/fhir/Observation', headers, payload: observation(space.alice, 'laboratory') });
    t.equal(wrong.statusCode, 403, 'cannot write a laboratory result');
    t.equal(ruleOf(wrong), 'scope-query');
  });

  t.test('withdrawing an app\'s Consent stops it at once, refresh included', async (t) => {
    const refreshed = await postTokenForm(space.app, { grant_type: 'refresh_token', refresh_token: w.coachTokens.refresh_token!, client_id: APPS.catalogue });
    t.equal(refreshed.statusCode, 200, 'the app refreshes while the Consent stands');
    const fresh = refreshed.json() as UserTokens;
    const consents = await readAs(space, auth.alice, `Consent?patient=${space.alice}&status=active&_count=100`);
    const coachConsent = (consents.json() as Bundle).entry!.map((e) => e.resource as { id: string; provision?: { actor?: Array<{ reference?: { identifier?: { value?: string } } }> } })
      .find((c) => c.provision?.actor?.some((a) => a.reference?.identifier?.value === APPS.catalogue));
    t.ok(coachConsent, 'the holder lists the Consent her approval wrote');
    const withdraw = await space.app.inject({
      method: 'PUT', url: `/fhir/Consent/${coachConsent!.id}`, headers: { authorization: auth.alice, 'content-type': FHIR_JSON }, payload: { ...coachConsent, status: 'inactive' },
    });
    t.equal(withdraw.statusCode, 200, 'the holder withdraws it');
    for (const [name, token] of [['the first access token', w.coachTokens.access_token], ['the refreshed access token', fresh.access_token]] as const) {
      const res = await readAs(space, `Bearer ${token}`, `Observation/${ids.obsVital}`);
      t.equal(res.statusCode, 403, `${name} no longer reads`);
      t.equal(ruleOf(res), 'app-without-consent');
      const search = await readAs(space, `Bearer ${token}`, 'Observation');
      t.same(search.statusCode === 200 ? idsOf(search.json() as Bundle) : [], [], `${name} finds nothing`);
    }
    const again = await postTokenForm(space.app, { grant_type: 'refresh_token', refresh_token: fresh.refresh_token!, client_id: APPS.catalogue });
    t.equal(again.statusCode, 400, 'its refresh token is refused');
    t.equal(again.json().error, 'invalid_grant');
    t.equal((await readAs(space, auth.alice, `Observation/${ids.obsVital}`)).statusCode, 200, 'the holder\'s own app keeps working');
  });
});
