import t from 'tap';
import type { Bundle, CareTeam } from '@medplum/fhirtypes';
import { FHIR_JSON, buildSpace, holderBearer, observation, professionalBearer, seed } from '../helpers/people.js';

/**
 * Who is in a patient's care team is deemed authorised by the patient, so a
 * team is formed by the patient (or a representative), the regular doctor,
 * or the care institution's software; a consented professional, or a member,
 * adding a colleague would open the space to someone the patient never chose.
 */
t.test('only the patient, the regular doctor or a system client forms the care team', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const [doctor, permittedPro, careTeamPro, otherPro] = await Promise.all([space.users.doctor, space.users.permittedPro, space.users.careTeamPro, space.users.otherPro].map((username) => professionalBearer(app, username)));
  const alice = await holderBearer(app, space.users.alice);
  const system = await space.systemAuth();
  const vital = await seed(space, observation(space.alice, 'vital-signs'));
  const team = (member: string): CareTeam => ({ resourceType: 'CareTeam', status: 'active', subject: { reference: space.alice }, participant: [{ member: { reference: member } }] });
  const post = (authorization: string, body: CareTeam) => app.inject({ method: 'POST', url: '/fhir/CareTeam', headers: { authorization, 'content-type': FHIR_JSON }, payload: body });
  const otherReads = async () => (await app.inject({ url: `/fhir/Observation/${vital}`, headers: { authorization: otherPro } })).statusCode;

  t.equal(await otherReads(), 403, 'the other professional has no access to begin with');
  for (const [who, authorization] of [['a consented professional', permittedPro], ['a member of the care team', careTeamPro]] as const) {
    const res = await post(authorization, team(space.otherPro));
    t.equal(res.statusCode, 403, `${who} may not add a colleague`);
    t.match(res.body, /care-team-by-patient-or-doctor/);
  }
  const existing = ((await app.inject({ url: `/fhir/CareTeam?subject=${space.alice}`, headers: { authorization: system } })).json() as Bundle<CareTeam>).entry![0]!.resource!;
  const widened = { ...existing, participant: [...existing.participant!, { member: { reference: space.otherPro } }] };
  const put = await app.inject({ method: 'PUT', url: `/fhir/CareTeam/${existing.id}`, headers: { authorization: careTeamPro, 'content-type': FHIR_JSON }, payload: widened });
  t.equal(put.statusCode, 403, 'nor widen the team they are in');
  const patch = await app.inject({
    method: 'PATCH', url: `/fhir/CareTeam/${existing.id}`, headers: { authorization: permittedPro, 'content-type': 'application/json-patch+json' },
    payload: JSON.stringify([{ op: 'add', path: '/participant/-', value: { member: { reference: space.otherPro } } }]),
  });
  t.equal(patch.statusCode, 403, 'nor patch it');
  const bundled = await app.inject({
    method: 'POST', url: '/fhir', headers: { authorization: permittedPro, 'content-type': FHIR_JSON },
    payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: team(space.otherPro), request: { method: 'POST', url: 'CareTeam' } }] },
  });
  t.equal(bundled.statusCode, 403, 'nor in a transaction');
  t.equal(await otherReads(), 403, 'after all of it, still no access');
  t.equal((await app.inject({ url: `/fhir/CareTeam/${existing.id}`, headers: { authorization: permittedPro } })).statusCode, 200, 'a consented professional still reads the team');

  const byDoctor = await post(doctor, team(space.otherPro));
  t.equal(byDoctor.statusCode, 201, 'the regular doctor forms a team');
  t.equal(await otherReads(), 200, 'and its member reads the space');
  const teamId = (byDoctor.json() as CareTeam).id!;
  const ended = await app.inject({ method: 'DELETE', url: `/fhir/CareTeam/${teamId}`, headers: { authorization: alice } });
  t.equal(ended.statusCode, 200, 'the patient ends it');
  t.equal(await otherReads(), 403, 'and the access ends with it');
  t.equal((await post(alice, team(space.otherPro))).statusCode, 201, 'the patient forms one herself');
  t.equal((await post(system, team(space.permittedPro))).statusCode, 201, 'so does the care institution\'s software');
});
