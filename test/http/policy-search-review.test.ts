import t from 'tap';
import type { Bundle } from '@medplum/fhirtypes';
import { APPS, FHIR_JSON, VISIBILITY, buildSpace, document, observation, patient, privacyConsent, seed, signIn } from '../helpers/people.js';

const BTG = { 'x-break-the-glass': 'unconscious in the emergency room' };
const NOTICE = 'https://carnet.dev/fhir/CodeSystem/notification-type|emergency-access';

// Found by exploratory tests of search under the policy: ways in which a search
// (or a history, or a write) reached what a read of the same resource refuses.
t.test('search, history and writes give no more than a read', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const get = (authorization: string, url: string, headers: Record<string, string> = {}) => app.inject({ url, headers: { authorization, ...headers } });
  const ids = (res: { json(): unknown }) => ((res.json() as Bundle).entry ?? []).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);
  const pro = async (username: string) => `Bearer ${(await signIn(app, { clientId: APPS.pro, username, scope: 'user/*.cruds' })).access_token}`;
  const [doctor, otherPro, permittedPro, blockedPro] = await Promise.all([space.users.doctor, space.users.otherPro, space.users.permittedPro, space.users.blockedPro].map(pro));
  const alice = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: 'launch/patient patient/*.cruds' })).access_token}`;
  const system = await space.systemAuth();
  const bobObs = `Observation/${await seed(space, observation(space.bob, 'laboratory'))}`;
  const aliceObs = `Observation/${await seed(space, observation(space.alice, 'laboratory'))}`;

  t.test('break-the-glass in a search is judged as on a read, and the patient is told', async (t) => {
    for (const url of [`/fhir/Observation?patient=${space.bob}`, `/fhir/${space.bob}/*`, `/fhir/${space.bob}/Observation`]) {
      const refused = await get(otherPro, url, BTG);
      t.equal(refused.statusCode, 403, `bob refused emergency access: ${url}`);
      t.match(refused.json().issue[0].diagnostics, /emergency-access-refused/);
      t.notMatch(refused.body, bobObs);
    }
    const blocked = await get(blockedPro, `/fhir/Observation?patient=${space.alice}`, BTG);
    t.equal(blocked.statusCode, 403, 'alice blocked this professional');
    t.match(blocked.json().issue[0].diagnostics, /blocked-by-patient/);
    t.notMatch(blocked.body, aliceObs);

    const carol = `Patient/${await seed(space, patient('Carol', space.doctor))}`;
    const carolObs = `Observation/${await seed(space, observation(carol, 'laboratory'))}`;
    const notices = async () => (await get(system, `/fhir/Communication?subject=${carol}&category=${encodeURIComponent(NOTICE)}&_summary=count`)).json().total as number;
    t.equal(await notices(), 0);
    const granted = await get(otherPro, `/fhir/Observation?patient=${carol}`, BTG);
    t.equal(granted.statusCode, 200);
    t.same(ids(granted), [carolObs], 'emergency access granted');
    t.ok((await notices()) >= 1, 'carol and her regular doctor are told of the emergency access');
    t.same(ids(await get(otherPro, `/fhir/Observation?patient=${carol}`)), [], 'without the header, nothing');
    // Over every type of her space, by a professional whose scopes do not cover Patient.
    const observationsOnly = `Bearer ${(await signIn(app, { clientId: APPS.pro, username: space.users.otherPro, scope: 'user/Observation.rs' })).access_token}`;
    const everything = await get(observationsOnly, `/fhir/${carol}/*`, BTG);
    t.equal(everything.statusCode, 200, everything.body.slice(0, 300));
    t.same(ids(everything), [carolObs], 'what his scopes cover of her space, and nothing else');
  });

  t.test('a resource in two spaces is found only by whom may read it in both', async (t) => {
    const appointment = `Appointment/${await seed(space, {
      resourceType: 'Appointment', status: 'proposed',
      participant: [{ actor: { reference: space.alice }, status: 'accepted' }, { actor: { reference: space.bob }, status: 'accepted' }],
    })}`;
    for (const [who, auth] of [['the holder', alice], ['her regular doctor', doctor], ['a professional she permitted', permittedPro]] as const) {
      t.equal((await get(auth, `/fhir/${appointment}`)).statusCode, 403, `${who} may not read it (bob's space)`);
      for (const url of ['/fhir/Appointment', `/fhir/Appointment?patient=${space.alice}`, `/fhir/${space.alice}/*`]) {
        const res = await get(auth, url);
        t.equal(res.statusCode, 200, `${who}: ${url}`);
        t.notOk(ids(res).includes(appointment), `${who} does not find it: ${url}`);
      }
    }
    t.ok(ids(await get(system, '/fhir/Appointment')).includes(appointment), 'a system client finds it');
    const trail = await get(alice, `/fhir/AuditEvent?patient=${space.alice}&agent=${space.permittedPro}&_summary=count`);
    t.ok(trail.json().total >= 1, 'the refused read is still in alice\'s trail (an access to her space too)');
  });

  t.test('a care team opens its subject\'s space to current members only', async (t) => {
    const erin = `Patient/${await seed(space, patient('Erin'))}`;
    const fay = `Patient/${await seed(space, patient('Fay'))}`;
    const gina = `Patient/${await seed(space, patient('Gina'))}`;
    const [erinObs, fayObs, ginaObs] = await Promise.all([erin, fay, gina].map(async (p) => `Observation/${await seed(space, observation(p, 'laboratory'))}`));
    await seed(space, { resourceType: 'CareTeam', status: 'active', subject: { reference: erin }, participant: [{ member: { reference: space.otherPro }, period: { end: '2020-01-01' } }] });
    await seed(space, { resourceType: 'CareTeam', status: 'active', subject: { reference: gina }, participant: [{ member: { reference: space.otherPro } }, { member: { reference: fay } }] });
    t.equal((await get(otherPro, `/fhir/${erinObs}`)).statusCode, 403);
    t.same(ids(await get(otherPro, `/fhir/Observation?patient=${erin}`)), [], 'a participation that ended opens nothing');
    t.equal((await get(otherPro, `/fhir/${fayObs}`)).statusCode, 403);
    t.same(ids(await get(otherPro, `/fhir/Observation?patient=${fay}`)), [], 'a patient taking part in another\'s team is not opened');
    t.same(ids(await get(otherPro, `/fhir/Observation?patient=${gina}`)), [ginaObs], 'the team\'s subject is');
  });

  t.test('masking a document hides its earlier versions', async (t) => {
    const doc = await seed(space, document(space.alice));
    const v1 = `/fhir/DocumentReference/${doc}/_history/1`;
    t.equal((await get(permittedPro, v1)).statusCode, 200, 'readable before the mask');
    const mask = await app.inject({
      method: 'PATCH', url: `/fhir/DocumentReference/${doc}`, headers: { authorization: alice, 'content-type': 'application/json-patch+json' },
      payload: JSON.stringify([{ op: 'add', path: '/securityLabel', value: [{ coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }] }]),
    });
    t.equal(mask.statusCode, 200, mask.body.slice(0, 200));
    t.equal((await get(permittedPro, `/fhir/DocumentReference/${doc}`)).statusCode, 403);
    const vread = await get(permittedPro, v1);
    t.equal(vread.statusCode, 403, 'nor its first version');
    t.match(vread.json().issue[0].diagnostics, /masked-from-professionals/);
    for (const url of [`/fhir/DocumentReference/${doc}/_history`, '/fhir/DocumentReference/_history?_count=100']) {
      t.notOk(ids(await get(permittedPro, url)).includes(`DocumentReference/${doc}`), `nor in ${url}`);
    }
    t.equal((await get(doctor, v1)).statusCode, 200, 'her regular doctor still reads it');
    t.equal((await get(alice, v1)).statusCode, 200, 'and so does she');
  });

  t.test('a patient\'s Consents are written by the patient only', async (t) => {
    const consents = (await get(system, `/fhir/Consent?patient=${space.alice}&_count=100`)).json() as Bundle;
    const blocking = consents.entry!.map((e) => e.resource as { id: string; provision?: { type?: string; actor?: Array<{ reference?: { reference?: string } }> } })
      .find((c) => c.provision?.type === 'deny' && c.provision.actor?.[0]?.reference?.reference === space.blockedPro)!;
    const withdraw = await app.inject({ method: 'PUT', url: `/fhir/Consent/${blocking.id}`, headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: { ...blocking, status: 'inactive' } });
    t.equal(withdraw.statusCode, 403, 'her regular doctor cannot lift her block of a colleague');
    t.match(withdraw.json().issue[0].diagnostics, /consent-by-patient/);
    const grant = await app.inject({ method: 'POST', url: '/fhir/Consent', headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: privacyConsent(space.alice, 'permit', { actor: space.otherPro }) });
    t.equal(grant.statusCode, 403, 'nor grant a colleague access');
    t.equal((await get(otherPro, `/fhir/${aliceObs}`)).statusCode, 403, 'the colleague stays without access');
    t.equal((await get(doctor, `/fhir/Consent/${blocking.id}`)).statusCode, 200, 'he reads them');
    const own = await app.inject({ method: 'POST', url: '/fhir/Consent', headers: { authorization: alice, 'content-type': FHIR_JSON }, payload: privacyConsent(space.alice, 'permit', { actor: space.otherPro }) });
    t.equal(own.statusCode, 201, `she does: ${own.body.slice(0, 200)}`);
  });

  t.test('reference data is found by search as it is read', async (t) => {
    const organization = `Organization/${await seed(space, { resourceType: 'Organization', name: 'Clinique du Parc' })}`;
    for (const [who, auth] of [['the holder', alice], ['a professional', otherPro]] as const) {
      t.equal((await get(auth, `/fhir/${space.doctor}`)).statusCode, 200, `${who} reads a Practitioner`);
      t.same(ids(await get(auth, `/fhir/Practitioner?_id=${space.doctor.split('/')[1]}`)), [space.doctor], `${who} finds it`);
      t.ok(ids(await get(auth, '/fhir/Organization?name=Clinique')).includes(organization), `${who} finds an Organization`);
    }
    t.same(ids(await get(otherPro, `/fhir/Observation?patient=${space.bob}`)), [], 'and nothing more of a space');
  });
});

t.test('a professional cannot make himself the regular doctor', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const signInPro = async (username: string) => `Bearer ${(await signIn(app, { clientId: APPS.pro, username, scope: 'user/*.cruds' })).access_token}`;
  const [permittedPro, doctor] = await Promise.all([signInPro(space.users.permittedPro), signInPro(space.users.doctor)]);
  const masked = await seed(space, document(space.alice, 'MASQUE_PS'));
  const current = (await app.inject({ url: `/fhir/${space.alice}`, headers: { authorization: permittedPro } })).json();
  const put = (authorization: string, body: Record<string, unknown>) => app.inject({ method: 'PUT', url: `/fhir/${space.alice}`, headers: { authorization, 'content-type': FHIR_JSON }, payload: body });
  const patch = (authorization: string, ops: unknown[]) => app.inject({ method: 'PATCH', url: `/fhir/${space.alice}`, headers: { authorization, 'content-type': 'application/json-patch+json' }, payload: JSON.stringify(ops) });
  const attempts: Array<[string, Awaited<ReturnType<typeof put>>]> = [
    ['a PUT naming himself', await put(permittedPro, { ...current, generalPractitioner: [{ reference: space.permittedPro }] })],
    ['a PATCH adding himself', await patch(permittedPro, [{ op: 'add', path: '/generalPractitioner/-', value: { reference: space.permittedPro } }])],
    ['the regular doctor adding a colleague', await patch(doctor, [{ op: 'add', path: '/generalPractitioner/-', value: { reference: space.otherPro } }])],
    ['the regular doctor removed', await patch(permittedPro, [{ op: 'remove', path: '/generalPractitioner' }])],
  ];
  for (const [name, res] of attempts) {
    t.equal(res.statusCode, 403, name);
    t.match(res.json().issue[0].diagnostics, /generalPractitioner/, name);
  }
  t.equal((await app.inject({ url: `/fhir/DocumentReference/${masked}`, headers: { authorization: permittedPro } })).statusCode, 403, 'the masked document stays masked from him');
  const address = await patch(permittedPro, [{ op: 'add', path: '/address', value: [{ city: 'Lyon' }] }]);
  t.equal(address.statusCode, 200, `he still updates the rest: ${address.body.slice(0, 200)}`);
});
