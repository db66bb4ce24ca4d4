import t from 'tap';
import type { Bundle } from '@medplum/fhirtypes';
import { APPS, buildSpace, observation, passwordHash, patient, practitioner, privacyConsent, seed, signIn } from '../helpers/people.js';

const BASE = 'http://carnet.test/fhir';

// A reference may be written relative, absolute under the server's base, or
// versioned (references.html#literal): the policy must read each the way the
// search index does. A patient's block written `<base>/Practitioner/x` was
// ignored: the professional kept reading and searching her space.
t.test('the policy reads every form of a reference the same way', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const accounts = app.carnetAuth.accounts;
  const pros: Record<string, string> = {};
  for (const name of ['absolute-block', 'versioned-block', 'absolute-permit', 'foreign-permit', 'absolute-doctor', 'absolute-team']) {
    pros[name] = `Practitioner/${await seed(space, practitioner(name))}`;
    await accounts.create({ username: name, passwordHash: await passwordHash(), kind: 'practitioner', fhirUser: pros[name] });
  }
  const carol = `Patient/${await seed(space, patient('Carol', `${BASE}/${pros['absolute-doctor']}`))}`;
  const carolObs = await seed(space, observation(carol, 'laboratory'));
  await seed(space, { resourceType: 'CareTeam', status: 'active', subject: { reference: `${BASE}/${carol}` }, participant: [{ member: { reference: `${BASE}/${pros['absolute-team']}` } }] });
  // Both blocked professionals were permitted first (written relative), then blocked in another form.
  for (const name of ['absolute-block', 'versioned-block']) await seed(space, privacyConsent(carol, 'permit', { actor: pros[name] }));
  await seed(space, privacyConsent(`${BASE}/${carol}`, 'deny', { actor: `${BASE}/${pros['absolute-block']}` }));
  await seed(space, privacyConsent(carol, 'deny', { actor: `${pros['versioned-block']}/_history/1` }));
  await seed(space, privacyConsent(carol, 'permit', { actor: `${BASE}/${pros['absolute-permit']}` }));
  // The same path on another server names someone else.
  await seed(space, privacyConsent(carol, 'permit', { actor: `https://elsewhere.example/fhir/${pros['foreign-permit']}` }));

  const bearer = async (username: string) => `Bearer ${(await signIn(app, { clientId: APPS.pro, username, scope: 'user/*.cruds' })).access_token}`;
  const read = async (username: string, url: string) => app.inject({ url, headers: { authorization: await bearer(username) } });
  const found = async (username: string) => {
    const res = await read(username, `/fhir/Observation?patient=${carol}`);
    t.equal(res.statusCode, 200, `${username} searches`);
    return ((res.json() as Bundle).entry ?? []).map((e) => e.resource!.id);
  };

  for (const name of ['absolute-block', 'versioned-block']) {
    const res = await read(name, `/fhir/${carol}`);
    t.equal(res.statusCode, 403, `${name}: her block holds on read`);
    t.match(res.json().issue[0].diagnostics, /blocked-by-patient/, name);
    t.equal((await read(name, `/fhir/Observation/${carolObs}`)).statusCode, 403, `${name}: and on her Observation`);
    t.same(await found(name), [], `${name}: her space is out of his searches`);
  }
  for (const name of ['absolute-permit', 'absolute-doctor', 'absolute-team']) {
    t.equal((await read(name, `/fhir/${carol}`)).statusCode, 200, `${name} reads her record`);
    t.same(await found(name), [carolObs], `${name} finds her Observation`);
  }
  const foreign = await read('foreign-permit', `/fhir/${carol}`);
  t.equal(foreign.statusCode, 403, 'a permit naming another server\'s Practitioner grants nothing here');
  t.same(await found('foreign-permit'), []);
});

// A deny naming another server's professional would block no one here while the patient believes
// it does: refused, over REST and in a transaction, as the write of the Consent.
t.test('a block naming a professional of another server is refused', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const alice = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: 'launch/patient patient/*.cruds' })).access_token}`;
  const foreign = privacyConsent(space.alice, 'deny', { actor: `https://elsewhere.example/fhir/${space.blockedPro}` });
  const rest = await app.inject({ method: 'POST', url: '/fhir/Consent', headers: { authorization: alice, 'content-type': 'application/fhir+json' }, payload: foreign });
  t.equal(rest.statusCode, 422, rest.body.slice(0, 300));
  t.match(rest.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_CONSENT_ACTOR' }] }, expression: ['Consent.provision.actor[0].reference'], diagnostics: /elsewhere\.example.*Practitioner\/<id>/ }] });
  const bundle = await app.inject({ method: 'POST', url: '/fhir', headers: { authorization: await space.systemAuth(), 'content-type': 'application/fhir+json' },
    payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Consent' }, resource: foreign }] } });
  t.equal(bundle.statusCode, 422, 'in a transaction too');
  for (const actor of [space.blockedPro, `${BASE}/${space.blockedPro}`, `${space.blockedPro}/_history/1`]) {
    const local = await app.inject({ method: 'POST', url: '/fhir/Consent', headers: { authorization: alice, 'content-type': 'application/fhir+json' }, payload: privacyConsent(space.alice, 'deny', { actor }) });
    t.equal(local.statusCode, 201, `a block naming ${actor}`);
  }
});
