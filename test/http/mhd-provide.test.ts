import t from 'tap';
import type { Bundle, BundleEntry, DocumentReference, List } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';
import { CLASS_SYSTEM, INS_NIR, provideBundle } from '../fixtures/mhd/provide-bundle.js';

const FHIR = 'application/fhir+json';

t.test('ITI-65 Provide Document Bundle', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': FHIR };
  await app.inject({ method: 'PUT', url: '/fhir/Patient/p65', headers, payload: { resourceType: 'Patient', id: 'p65', identifier: [{ system: INS_NIR, value: '285017512345678' }], name: [{ family: 'Durand' }] } });
  await app.inject({ method: 'PUT', url: '/fhir/Patient/other', headers, payload: { resourceType: 'Patient', id: 'other', name: [{ family: 'Autre' }] } });
  await app.inject({ method: 'PUT', url: '/fhir/Practitioner/dr-martin', headers, payload: { resourceType: 'Practitioner', id: 'dr-martin', name: [{ family: 'Martin' }] } });
  const post = (bundle: unknown) => app.inject({ method: 'POST', url: '/fhir', headers, payload: bundle as object });
  const read = async <T>(ref: string) => (await app.inject({ url: `/fhir/${ref}`, headers: { authorization } })).json() as T;
  const historyCount = async (type: string) => ((await app.inject({ url: `/fhir/${type}/_history?_count=1000`, headers: { authorization } })).json().entry ?? []).length as number;
  const byMaster = async (value: string) => ((await app.inject({ url: `/fhir/DocumentReference?identifier=${encodeURIComponent(value)}`, headers: { authorization } })).json().entry ?? []).length as number;
  const docOf = (bundle: Bundle, n = 0) => bundle.entry!.filter((e) => e.resource?.resourceType === 'DocumentReference')[n]!.resource as DocumentReference;

  t.test('a single document: 200 transaction-response, one 201 per entry, absolute attachment url', async (t) => {
    const bundle = provideBundle('Patient/p65');
    const res = await post(bundle);
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
    const answer = res.json() as Bundle;
    t.equal(answer.type, 'transaction-response');
    t.equal(answer.entry!.length, 3);
    for (const e of answer.entry!) t.match(e.response, { status: '201 Created', location: /^(List|DocumentReference|Binary)\/[^/]+\/_history\/1$/ });
    const docId = answer.entry![1]!.response!.location!.split('/')[1];
    const doc = await read<DocumentReference>(`DocumentReference/${docId}`);
    t.match(doc.content[0]!.attachment.url, /^http:\/\/carnet\.test\/fhir\/Binary\/[^/]+$/, 'attachment url is absolute, usable for ITI-68');
    const list = await read<List>(`List/${answer.entry![0]!.response!.location!.split('/')[1]}`);
    t.equal(list.entry![0]!.item.reference, `DocumentReference/${docId}`);
  });

  t.test('two documents in one submission set', async (t) => {
    const bundle = provideBundle('Patient/p65', [{ type: '11502-2' }, { type: '18748-4' }]);
    const res = await post(bundle);
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
    t.equal(res.json().entry.length, 5);
    t.equal(await byMaster(docOf(bundle, 0).masterIdentifier!.value!), 1);
    t.equal(await byMaster(docOf(bundle, 1).masterIdentifier!.value!), 1);
  });

  t.test('replace: the old document becomes superseded in the same transaction and stays readable', async (t) => {
    const first = await post(provideBundle('Patient/p65'));
    const oldId = first.json().entry[1].response.location.split('/')[1];
    const replacement = provideBundle('Patient/p65', [{ relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${oldId}` } }] }]);
    const res = await post(replacement);
    t.equal(res.statusCode, 200, res.body.slice(0, 400));
    t.equal(res.json().entry.length, 3, 'one answer per request entry (the superseding update is not listed)');
    const old = await read<DocumentReference>(`DocumentReference/${oldId}`);
    t.equal(old.status, 'superseded');
    t.equal(old.meta?.versionId, '2');
    const newId = res.json().entry[1].response.location.split('/')[1];
    t.equal((await read<DocumentReference>(`DocumentReference/${newId}`)).status, 'current');
    const again = await post(provideBundle('Patient/p65', [{ relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${oldId}` } }] }]));
    t.equal(again.statusCode, 422, 'a superseded document cannot be replaced again');
  });

  t.test('addendum and transform keep both documents current', async (t) => {
    const first = await post(provideBundle('Patient/p65'));
    const baseId = first.json().entry[1].response.location.split('/')[1];
    for (const code of ['appends', 'transforms'] as const) {
      const res = await post(provideBundle('Patient/p65', [{ relatesTo: [{ code, target: { reference: `DocumentReference/${baseId}` } }] }]));
      t.equal(res.statusCode, 200, `${code}: ${res.body.slice(0, 200)}`);
      const added = await read<DocumentReference>(res.json().entry[1].response.location.split('/_history')[0]);
      t.equal(added.status, 'current');
    }
    t.equal((await read<DocumentReference>(`DocumentReference/${baseId}`)).status, 'current');
  });

  type Tweak = (b: Bundle & { entry: BundleEntry[] }) => void;
  const list = (b: Bundle) => b.entry![0]!.resource as List;
  const doc = (b: Bundle) => b.entry![1]!.resource as DocumentReference;
  const negatives: Array<[string, Tweak, RegExp]> = [
    ['no SubmissionSet', (b) => { list(b).code = { coding: [{ system: 'http://loinc.org', code: 'x' }] }; }, /exactly one SubmissionSet/],
    ['two SubmissionSets', (b) => { b.entry.push({ ...structuredClone(b.entry[0]!), fullUrl: 'urn:uuid:8a7f7a2e-0000-4000-8000-000000000001' }); }, /exactly one SubmissionSet/],
    ['SubmissionSet status not current', (b) => { list(b).status = 'retired'; }, /Bundle\.entry\[0\]\.resource\.status/],
    ['SubmissionSet mode not working', (b) => { list(b).mode = 'snapshot'; }, /mode working/],
    ['SubmissionSet without date', (b) => { delete list(b).date; }, /needs a date/],
    ['SubmissionSet without ihe-sourceId', (b) => { delete list(b).extension; }, /ihe-sourceId/],
    ['SubmissionSet without uniqueId', (b) => { list(b).identifier = list(b).identifier!.slice(1); }, /uniqueId/],
    ['SubmissionSet without entryUUID', (b) => { list(b).identifier = list(b).identifier!.slice(0, 1); }, /entryUUID/],
    ['List item not in the Bundle', (b) => { list(b).entry!.push({ item: { reference: 'urn:uuid:00000000-0000-4000-8000-00000000dead' } }); }, /is not an entry of this Bundle/],
    ['DocumentReference not in the SubmissionSet', (b) => { list(b).entry = []; }, /not referenced by the SubmissionSet/],
    ['attachment url not a Binary of the Bundle', (b) => { doc(b).content[0]!.attachment.url = 'urn:uuid:00000000-0000-4000-8000-00000000beef'; }, /not a Binary entry/],
    ['attachment hash mismatch', (b) => { doc(b).content[0]!.attachment.hash = Buffer.alloc(20).toString('base64'); }, /content\[0\]\.attachment\.hash/],
    ['attachment size mismatch', (b) => { doc(b).content[0]!.attachment.size = 3; }, /content\[0\]\.attachment\.size/],
    ['subjects name different patients', (b) => { doc(b).subject = { reference: 'Patient/other' }; }, /same patient/],
    ['two Patient entries', (b) => { b.entry.push({ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }, { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }); }, /at most one Patient/],
    ['missing masterIdentifier', (b) => { delete doc(b).masterIdentifier; }, /masterIdentifier/],
    ['missing type', (b) => { delete doc(b).type; }, /resource\.type/],
    ['missing format', (b) => { delete doc(b).content[0]!.format; }, /format/],
    ['missing contentType', (b) => { delete doc(b).content[0]!.attachment.contentType; }, /contentType is required/],
    ['DocumentReference not current', (b) => { doc(b).status = 'entered-in-error'; }, /status current/],
    ['missing author', (b) => { delete doc(b).author; }, /author/],
    ['replacing an unknown document', (b) => { doc(b).relatesTo = [{ code: 'replaces', target: { reference: 'DocumentReference/nope' } }]; }, /does not exist/],
    ['a professional document claiming class 90', (b) => { doc(b).category = [{ coding: [{ system: CLASS_SYSTEM, code: '90' }] }]; }, /FHIR_ERR_DOC_ORIGIN_CLAIM/],
  ];
  for (const [name, tweak, expected] of negatives) {
    t.test(`refused, nothing stored: ${name}`, async (t) => {
      const before = { docs: await historyCount('DocumentReference'), lists: await historyCount('List'), binaries: await historyCount('Binary') };
      const bundle = provideBundle('Patient/p65');
      tweak(bundle);
      const res = await post(bundle);
      t.ok(res.statusCode === 400 || res.statusCode === 422, `4xx (${res.statusCode})`);
      t.equal(res.json().resourceType, 'OperationOutcome');
      t.match(res.body, expected);
      t.equal(await byMaster(doc(bundle).masterIdentifier?.value ?? 'none'), 0, 'no document with its masterIdentifier');
      t.same({ docs: await historyCount('DocumentReference'), lists: await historyCount('List'), binaries: await historyCount('Binary') }, before, 'no version of any type was written');
    });
  }

  t.test('a search running during a failing transaction never sees its entries', async (t) => {
    const bundle = provideBundle('Patient/p65', Array.from({ length: 40 }, () => ({})));
    // Valid for the MHD checks; fails in the processor on the last entry (an invalid Patient).
    bundle.entry.push({ resource: { resourceType: 'Patient', id: 'x', gender: 12 } as never, request: { method: 'PUT', url: 'Patient/x' } });
    const masters = bundle.entry.filter((e) => e.resource?.resourceType === 'DocumentReference').map((e) => (e.resource as DocumentReference).masterIdentifier!.value!);
    let seen = 0;
    let failing = true;
    const searching = (async () => {
      while (failing) {
        const res = await app.inject({ url: `/fhir/DocumentReference?identifier=${encodeURIComponent(masters.join(','))}`, headers: { authorization } });
        seen += (res.json().entry ?? []).length;
        // Let the transaction's disk I/O run between searches.
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const res = await post(bundle);
    failing = false;
    await searching;
    t.ok(res.statusCode >= 400);
    t.equal(seen, 0, 'no concurrent search saw an entry of the failed transaction');
    t.equal(await byMaster(masters[0]!), 0);
  });
});
