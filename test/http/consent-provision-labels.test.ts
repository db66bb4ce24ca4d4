import t from 'tap';
import { FHIR_JSON, VISIBILITY, buildSpace, privacyConsent, professionalBearer, seed } from '../helpers/people.js';

// A Consent's `provision.securityLabel` (indexed as `security-label`, as a document's labels are) names
// the data the Consent is about; it is no label of the Consent itself, which stays visible as her other Consents.
t.test('a Consent whose provision names a visibility label is not itself masked', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  // A professional she permitted: the one a masked document is hidden from (her regular doctor sees those too).
  const doctor = await professionalBearer(app, space.users.permittedPro);
  const plain = await seed(space, privacyConsent(space.alice, 'permit', {}));
  const about = privacyConsent(space.alice, 'permit', {}) as { provision: Record<string, unknown> };
  about.provision.securityLabel = [{ system: VISIBILITY, code: 'MASQUE_PS' }];
  const naming = await seed(space, about);

  const read = async (id: string) => app.inject({ url: `/fhir/Consent/${id}`, headers: { authorization: doctor } });
  const plainRead = await read(plain);
  const namingRead = await read(naming);
  t.equal(namingRead.statusCode, plainRead.statusCode, `the professional she permitted reads both alike (${plainRead.statusCode}, ${namingRead.body.slice(0, 160)})`);
  t.equal(namingRead.statusCode, 200);

  const search = await app.inject({ url: `/fhir/Consent?patient=${space.alice}&_count=100`, headers: { authorization: doctor, accept: FHIR_JSON } });
  const ids = (search.json().entry ?? []).map((e: { resource: { id: string } }) => e.resource.id);
  t.ok(ids.includes(plain) && ids.includes(naming), 'and finds both in a search');
});
