import t from 'tap';
import type { Binary, Bundle, DocumentReference, List } from '@medplum/fhirtypes';
import { APPS, DAY_MS, FHIR_JSON, buildSpace, document, holderBearer, professionalBearer, signIn } from '../helpers/people.js';
import { CLASS_SYSTEM, DOCPAT_SYSTEM, VISIBILITY, provideBundle } from '../fixtures/mhd/provide-bundle.js';

const PATCH_JSON = 'application/json-patch+json';

t.test('the patient\'s side of the shared medical record', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const alice = await holderBearer(app, space.users.alice);
  const doctor = await professionalBearer(app, space.users.doctor);
  const permitted = await professionalBearer(app, space.users.permittedPro);

  const create = (authorization: string, resource: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: { authorization, 'content-type': FHIR_JSON }, payload: resource });
  const patch = (authorization: string, id: string, operations: unknown[]) =>
    app.inject({ method: 'PATCH', url: `/fhir/DocumentReference/${id}`, headers: { authorization, 'content-type': PATCH_JSON }, payload: JSON.stringify(operations) });
  const read = (authorization: string, id: string) => app.inject({ url: `/fhir/DocumentReference/${id}`, headers: { authorization } });
  const visible = async (authorization: string, id: string) => {
    const res = await app.inject({ url: `/fhir/DocumentReference?patient=${space.alice}`, headers: { authorization } });
    t.equal(res.statusCode, 200, res.body.slice(0, 200));
    return ((res.json() as Bundle).entry ?? []).some((e) => e.resource?.id === id);
  };
  const patientDocument = (description: string, type = 'DOCPAT01') => ({
    ...document(space.alice, undefined, description),
    category: [{ coding: [{ system: CLASS_SYSTEM, code: '90' }] }],
    type: { coding: [{ system: DOCPAT_SYSTEM, code: type }] },
  });
  const mask = { op: 'add', path: '/securityLabel', value: [{ coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }] };

  const proDoc = async (description: string) => {
    const res = await create(doctor, document(space.alice, undefined, description));
    t.equal(res.statusCode, 201, res.body.slice(0, 300));
    return (res.json() as DocumentReference).id!;
  };

  t.test('a document the patient adds through an app is stored and distinguishable', async (t) => {
    const res = await create(alice, patientDocument('my own blood test', 'DOCPAT04'));
    t.equal(res.statusCode, 201, res.body.slice(0, 300));
    const id = (res.json() as DocumentReference).id!;
    const professional = await proDoc('consultation');
    const byClass = await app.inject({ url: `/fhir/DocumentReference?patient=${space.alice}&category=${encodeURIComponent(`${CLASS_SYSTEM}|90`)}`, headers: { authorization: doctor } });
    const ids = ((byClass.json() as Bundle).entry ?? []).map((e) => e.resource!.id);
    t.ok(ids.includes(id), 'found as a patient document');
    t.notOk(ids.includes(professional), 'a professional document is not');
    t.ok(await visible(doctor, id), 'professionals see what the patient added');
  });

  t.test('ITI-68 for people: the bytes of a document follow the document\'s visibility', async (t) => {
    const other = await professionalBearer(app, space.users.otherPro);
    const bob = await holderBearer(app, space.users.bob);
    const submission = provideBundle(space.alice, [{ author: space.doctor }]);
    (submission.entry[0]!.resource as List).source = { reference: space.doctor };
    const res = await app.inject({ method: 'POST', url: '/fhir', headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: submission });
    t.equal(res.statusCode, 200, res.body.slice(0, 400));
    const id = (res.json() as Bundle).entry![1]!.response!.location!.split('/')[1]!;
    const stored = (await read(doctor, id)).json() as DocumentReference;
    const path = new URL(stored.content[0]!.attachment.url!).pathname;
    const bytes = async (authorization: string) => (await app.inject({ url: path, headers: { authorization } })).statusCode;
    t.equal(await bytes(doctor), 200, 'the author');
    t.equal(await bytes(alice), 200, 'the patient');
    t.equal(await bytes(permitted), 200, 'a consented professional');
    t.equal(await bytes(other), 403, 'a professional without consent');
    t.equal(await bytes(bob), 403, 'another patient');
    // The submitted document carries confidentiality N: the mask is added next to it.
    t.equal((await patch(alice, id, [{ op: 'add', path: '/securityLabel/-', value: mask.value[0] }])).statusCode, 200);
    t.equal(await bytes(permitted), 403, 'masked: not the bytes either');
    t.equal(await bytes(doctor), 200, 'the regular doctor still');
    t.equal((await patch(alice, id, [{ op: 'remove', path: '/securityLabel/1' }])).statusCode, 200);
    t.equal(await bytes(permitted), 200, 'unmasked');
    t.equal((await patch(doctor, id, [{ op: 'add', path: '/securityLabel/-', value: { coding: [{ system: VISIBILITY, code: 'INVISIBLE_PATIENT' }] } }])).statusCode, 200);
    const binaryId = path.split('/').pop()!;
    const system = await space.systemAuth();
    const trail = async (entity: string, outcome: string) => {
      await app.audit.settle();
      const res = await app.inject({ url: `/fhir/AuditEvent?entity=${entity}&agent=${space.alice}&outcome=${outcome}&_summary=count`, headers: { authorization: system } });
      return (res.json() as Bundle).total ?? 0;
    };
    const [allowedBefore, refusedBefore] = [await trail(`Binary/${binaryId}`, '0'), await trail(`DocumentReference/${id}`, '4')];
    t.equal(await bytes(alice), 403, 'hidden from the patient: the bytes too');
    t.equal(await trail(`Binary/${binaryId}`, '0'), allowedBefore, 'and the trail records no allowed access to them');
    t.equal(await trail(`DocumentReference/${id}`, '4'), refusedBefore + 1, 'but the refusal, on the document that hides them');
    t.equal(await bytes(doctor), 200);
  });

  t.test('a patient document without class 90 and a DOCPAT type is refused', async (t) => {
    for (const resource of [
      document(space.alice, undefined, 'no origin'),
      { ...patientDocument('class without type'), type: { coding: [{ system: 'http://loinc.org', code: '11488-4' }] } },
      { ...patientDocument('type without class'), category: [{ coding: [{ system: CLASS_SYSTEM, code: '10' }] }] },
    ]) {
      const res = await create(alice, resource);
      t.equal(res.statusCode, 422, String(resource.description));
      t.match(res.body, /FHIR_ERR_DOC_PATIENT_ORIGIN/);
    }
  });

  t.test('a professional cannot claim class 90', async (t) => {
    const res = await create(doctor, patientDocument('pretending'));
    t.equal(res.statusCode, 422);
    t.match(res.body, /FHIR_ERR_DOC_ORIGIN_CLAIM/);
  });

  t.test('the patient masks a professional document and unmasks it', async (t) => {
    const id = await proDoc('to mask');
    t.ok(await visible(permitted, id), 'a consented professional sees it at first');
    const masked = await patch(alice, id, [mask]);
    t.equal(masked.statusCode, 200, masked.body.slice(0, 300));
    t.equal((masked.json() as DocumentReference).meta?.versionId, '2', 'a new version');
    t.notOk(await visible(permitted, id), 'masked from a consented professional (search)');
    t.ok([403, 404].includes((await read(permitted, id)).statusCode), 'masked from a consented professional (read)');
    t.ok(await visible(doctor, id), 'the regular doctor still sees it');
    t.equal((await read(doctor, id)).statusCode, 200);
    t.ok(await visible(alice, id), 'the patient still sees it');
    const byDoctor = await patch(doctor, id, [{ op: 'remove', path: '/securityLabel' }]);
    t.equal(byDoctor.statusCode, 403, 'only the patient lifts the mask');
    const unmasked = await patch(alice, id, [{ op: 'remove', path: '/securityLabel' }]);
    t.equal(unmasked.statusCode, 200, unmasked.body.slice(0, 300));
    t.equal((unmasked.json() as DocumentReference).meta?.versionId, '3', 'a new version');
    t.ok(await visible(permitted, id), 'visible again');
    t.equal((await read(permitted, id)).statusCode, 200);
    const history = await app.inject({ url: `/fhir/DocumentReference/${id}/_history`, headers: { authorization: doctor } });
    t.equal(((history.json() as Bundle).entry ?? []).length, 3, 'three versions in the history');
  });

  t.test('on a professional document the patient may only mask', async (t) => {
    const id = await proDoc('not the patient\'s to edit');
    const res = await patch(alice, id, [{ op: 'replace', path: '/status', value: 'entered-in-error' }]);
    t.equal(res.statusCode, 403);
    t.equal((await read(doctor, id)).json().status, 'current');
  });

  t.test('the patient deletes their own documents only', async (t) => {
    const own = (await create(alice, patientDocument('to delete'))).json() as DocumentReference;
    const del = await app.inject({ method: 'DELETE', url: `/fhir/DocumentReference/${own.id}`, headers: { authorization: alice } });
    t.equal(del.statusCode, 200, del.body.slice(0, 300));
    t.equal((await read(alice, own.id!)).statusCode, 410);
    const professional = await proDoc('not deletable by the patient');
    const refused = await app.inject({ method: 'DELETE', url: `/fhir/DocumentReference/${professional}`, headers: { authorization: alice } });
    t.equal(refused.statusCode, 403);
    t.equal((await read(doctor, professional)).statusCode, 200, 'still there');
    const own2 = (await create(alice, patientDocument('the patient\'s, not the doctor\'s'))).json() as DocumentReference;
    t.equal((await app.inject({ method: 'DELETE', url: `/fhir/DocumentReference/${own2.id}`, headers: { authorization: doctor } })).statusCode, 403, 'a professional cannot delete a patient document');
  });

  t.test('a professional hides a document from the patient', async (t) => {
    const id = await proDoc('bad news, to be announced');
    t.ok(await visible(alice, id));
    const res = await patch(doctor, id, [{ op: 'add', path: '/securityLabel', value: [{ coding: [{ system: VISIBILITY, code: 'INVISIBLE_PATIENT' }] }] }]);
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
    t.equal((res.json() as DocumentReference).meta?.versionId, '2');
    t.notOk(await visible(alice, id), 'not in the patient\'s searches');
    t.ok([403, 404].includes((await read(alice, id)).statusCode), 'not readable by the patient');
    t.ok(await visible(doctor, id), 'professionals still see it');
    const byPatient = await patch(alice, id, [{ op: 'remove', path: '/securityLabel' }]);
    t.ok([403, 404].includes(byPatient.statusCode), 'the patient cannot lift it');
  });

  t.test('a document hidden from the patient becomes visible after a month', async (t) => {
    // Written 32 days ago, as the server's clock sees it.
    space.setClockOffset(-32 * DAY_MS);
    t.teardown(() => space.setClockOffset(0));
    const id = await proDoc('announced a month ago');
    const res = await patch(doctor, id, [{ op: 'add', path: '/securityLabel', value: [{ coding: [{ system: VISIBILITY, code: 'INVISIBLE_PATIENT' }] }] }]);
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
    space.setClockOffset(0);
    t.ok(await visible(alice, id), 'in the patient\'s searches');
    t.equal((await read(alice, id)).statusCode, 200);
  });

  t.test('a professional hides a document from legal representatives', async (t) => {
    const parent = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: space.users.parent, scope: 'launch/patient patient/*.cruds', patient: space.minor.slice(8) })).access_token}`;
    const created = await create(doctor, document(space.minor, 'INVISIBLE_REPRESENTANTS_LEGAUX', 'for the minor only'));
    t.equal(created.statusCode, 201, created.body.slice(0, 300));
    const hidden = (created.json() as DocumentReference).id!;
    const plain = (await create(doctor, document(space.minor, undefined, 'for the family'))).json() as DocumentReference;
    const res = await app.inject({ url: `/fhir/DocumentReference?patient=${space.minor}`, headers: { authorization: parent } });
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
    const ids = ((res.json() as Bundle).entry ?? []).map((e) => e.resource!.id);
    t.ok(ids.includes(plain.id), 'the representative sees the minor\'s documents');
    t.notOk(ids.includes(hidden), 'but not the one hidden from representatives');
    t.ok([403, 404].includes((await read(parent, hidden)).statusCode));
    t.equal((await read(doctor, hidden)).statusCode, 200);
  });

  t.test('a PDSm metadata update touches status, securityLabel and isArchived only', async (t) => {
    const id = await proDoc('metadata');
    const other = await patch(doctor, id, [{ op: 'replace', path: '/description', value: 'rewritten' }]);
    t.equal(other.statusCode, 422);
    t.match(other.body, /FHIR_ERR_DOC_PATCH_FIELD/);
    const type = await patch(doctor, id, [{ op: 'replace', path: '/type/coding/0/code', value: '11502-2' }]);
    t.equal(type.statusCode, 422);
    t.equal((await read(doctor, id)).json().meta.versionId, '1', 'nothing written');
    const archived = await patch(doctor, id, [{ op: 'add', path: '/extension', value: [{ url: 'https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/PDSm_isArchived', valueBoolean: true }] }]);
    t.equal(archived.statusCode, 200, archived.body.slice(0, 300));
    t.equal((archived.json() as DocumentReference).meta?.versionId, '2');
    const status = await patch(doctor, id, [{ op: 'replace', path: '/status', value: 'entered-in-error' }]);
    t.equal(status.statusCode, 200, status.body.slice(0, 300));
    const after = (await read(doctor, id)).json() as DocumentReference;
    t.equal(after.meta?.versionId, '3');
    t.equal(after.status, 'entered-in-error');
    t.equal(after.description, 'metadata');
  });
});
