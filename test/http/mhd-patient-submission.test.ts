import t from 'tap';
import type { Bundle, DocumentReference, List } from '@medplum/fhirtypes';
import { APPS, FHIR_JSON, buildSpace, signIn } from '../helpers/people.js';
import { DOCPAT_SYSTEM, provideBundle } from '../fixtures/mhd/provide-bundle.js';

t.test('a patient\'s app submits a document through ITI-65 and reads its bytes back', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const alice = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: 'launch/patient patient/*.cruds' })).access_token}`;
  const submission = provideBundle(space.alice, [{ author: space.alice, classCode: '90' }]);
  const list = submission.entry[0]!.resource as List;
  list.source = { reference: space.alice };
  const doc = submission.entry.find((e) => e.resource?.resourceType === 'DocumentReference')!.resource as DocumentReference;
  doc.type = { coding: [{ system: DOCPAT_SYSTEM, code: 'DOCPAT04' }] };
  const res = await app.inject({ method: 'POST', url: '/fhir', headers: { authorization: alice, 'content-type': FHIR_JSON }, payload: submission });
  t.equal(res.statusCode, 200, res.body.slice(0, 400));
  const id = (res.json() as Bundle).entry!.find((e) => e.response?.location?.startsWith('DocumentReference/'))!.response!.location!.split('/')[1]!;
  const stored = (await app.inject({ url: `/fhir/DocumentReference/${id}`, headers: { authorization: alice } })).json() as DocumentReference;
  t.equal(stored.category?.[0]?.coding?.[0]?.code, '90', 'marked as added by the patient');
  const bytes = await app.inject({ url: new URL(stored.content[0]!.attachment.url!).pathname, headers: { authorization: alice, accept: 'application/pdf' } });
  t.equal(bytes.statusCode, 200);
  t.match(bytes.body, /^%PDF-1\.4/);
});
