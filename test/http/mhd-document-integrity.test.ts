import t from 'tap';
import type { Bundle, DocumentReference, List } from '@medplum/fhirtypes';
import { APPS, FHIR_JSON, buildSpace, signIn } from '../helpers/people.js';
import { CLASS_SYSTEM, DOCPAT_SYSTEM, provideBundle } from '../fixtures/mhd/provide-bundle.js';

const PATCH_JSON = 'application/json-patch+json';

// Found by an exploratory MHD test: ways round the rules that keep each document whole and in its own space.
t.test('a document stays whole, in its own space, retired only by whom it belongs to', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const doctor = `Bearer ${(await signIn(app, { clientId: APPS.pro, username: space.users.doctor, scope: 'user/*.cruds' })).access_token}`;
  const alice = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: 'launch/patient patient/*.cruds' })).access_token}`;
  const submit = async (authorization: string, bundle: Bundle) =>
    app.inject({ method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR_JSON }, payload: bundle });
  const provide = async (patient: string, authorization = doctor, edit: (b: Bundle & { entry: NonNullable<Bundle['entry']> }) => void = () => undefined) => {
    const bundle = provideBundle(patient, [{ author: space.doctor }]);
    (bundle.entry[0]!.resource as List).source = { reference: space.doctor };
    edit(bundle);
    return submit(authorization, bundle);
  };
  const docIdOf = (res: { json(): unknown }) => ((res.json() as Bundle).entry![1]!.response!.location!).split('/')[1]!;
  const read = async (id: string) => (await app.inject({ url: `/fhir/DocumentReference/${id}`, headers: { authorization: doctor } })).json() as DocumentReference;
  const patch = (authorization: string, id: string, operations: unknown[]) => app.inject({
    method: 'PATCH', url: `/fhir/DocumentReference/${id}`, headers: { authorization, 'content-type': PATCH_JSON }, payload: JSON.stringify(operations),
  });

  const minorsDoc = await provide(space.minor);
  t.equal(minorsDoc.statusCode, 200, minorsDoc.body.slice(0, 300));
  const minorsId = docIdOf(minorsDoc);
  const alicesDoc = await provide(space.alice);
  const alicesId = docIdOf(alicesDoc);

  t.test('a replacement names a document of the same patient, however its subject is written', async (t) => {
    const aliceId = space.alice.split('/')[1]!;
    for (const [name, subject] of [['a conditional subject', `Patient?_id=${aliceId}`]] as const) {
      const res = await provide(space.alice, doctor, (bundle) => {
        for (const e of bundle.entry) {
          const r = e.resource as { resourceType: string; subject?: { reference: string } };
          if (r.subject) r.subject = { reference: subject };
        }
        (bundle.entry[1]!.resource as DocumentReference).relatesTo = [{ code: 'replaces', target: { reference: `DocumentReference/${minorsId}` } }];
      });
      t.equal(res.statusCode, 422, `${name}: ${res.body.slice(0, 300)}`);
      t.match(res.json().issue[0].details.coding[0].code, 'FHIR_ERR_MHD_REPLACED_OTHER_PATIENT');
      t.equal((await read(minorsId)).status, 'current', `${name}: the other patient's document is untouched`);
    }
  });

  t.test('on a professional\'s document the patient changes the mask only', async (t) => {
    const text = { op: 'add', path: '/text', value: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Rien de grave</div>' } };
    const narrative = await patch(alice, alicesId, [text]);
    t.equal(narrative.statusCode, 403, `not its narrative: ${narrative.body.slice(0, 300)}`);
    t.equal((await patch(alice, alicesId, [{ op: 'add', path: '/meta/tag', value: [{ system: 'urn:x', code: 'mine' }] }])).statusCode, 403, 'not its tags');
    t.equal((await patch(doctor, alicesId, [text])).statusCode, 422, 'a professional\'s metadata update (PDSm) does not touch the narrative either');
    t.equal((await read(alicesId)).meta!.versionId, '1', 'nothing changed');
  });

  t.test('a PUT is held to the metadata-update rule too', async (t) => {
    const current = await read(alicesId);
    const changed = { ...current, type: { coding: [{ system: 'http://loinc.org', code: '11502-2' }] } };
    const put = (body: DocumentReference) => app.inject({ method: 'PUT', url: `/fhir/DocumentReference/${alicesId}`, headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: body });
    const refused = await put(changed);
    t.equal(refused.statusCode, 422, refused.body.slice(0, 200));
    t.match(refused.json().issue[0].details.coding[0].code, 'FHIR_ERR_DOC_PATCH_FIELD');
    t.equal((await put({ ...current, status: 'entered-in-error' })).statusCode, 200, 'a status change by PUT is a metadata update');
  });

  t.test('a patient\'s own document is retired by the patient only', async (t) => {
    const own = await provide(space.alice, alice, (bundle) => {
      const doc = bundle.entry[1]!.resource as DocumentReference;
      doc.category = [{ coding: [{ system: CLASS_SYSTEM, code: '90' }] }];
      doc.type = { coding: [{ system: DOCPAT_SYSTEM, code: 'DOCPAT01' }] };
      doc.author = [{ reference: space.alice }];
      (bundle.entry[0]!.resource as List).source = { reference: space.alice };
    });
    t.equal(own.statusCode, 200, own.body.slice(0, 300));
    const ownId = docIdOf(own);
    const replaced = await provide(space.alice, doctor, (bundle) => {
      (bundle.entry[1]!.resource as DocumentReference).relatesTo = [{ code: 'replaces', target: { reference: `DocumentReference/${ownId}` } }];
    });
    t.equal(replaced.statusCode, 403, `a professional cannot supersede it: ${replaced.body.slice(0, 200)}`);
    t.equal((await patch(doctor, ownId, [{ op: 'replace', path: '/status', value: 'entered-in-error' }])).statusCode, 403, 'nor mark it entered in error');
    t.equal((await read(ownId)).status, 'current');
    t.equal((await patch(alice, ownId, [{ op: 'replace', path: '/status', value: 'entered-in-error' }])).statusCode, 200, 'she can');
  });
});
