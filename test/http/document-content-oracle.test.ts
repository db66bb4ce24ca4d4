import { createHash, randomUUID } from 'node:crypto';
import t from 'tap';
import type { Bundle, BundleEntry, DocumentReference, List, OperationOutcome } from '@medplum/fhirtypes';
import { buildSpace, document, FHIR_JSON, holderBearer, professionalBearer } from '../helpers/people.js';
import type { Space } from '../helpers/people.js';
import { CLASS_SYSTEM, DOCPAT_SYSTEM, VISIBILITY, provideBundle } from '../fixtures/mhd/provide-bundle.js';

/**
 * A document's content checks (FHIR_ERR_DOC_CONTENT_MISSING, _MISMATCH) must
 * not let whoever may write a DocumentReference but may not read a Binary
 * learn whether that Binary exists, or test a guessed hash or size of its
 * bytes: for them a Binary they may not read (as ITI-68 would judge it) is
 * answered exactly as one that does not exist, same status, code and text,
 * whatever the attachment says. Whoever may read the bytes, or sends them in
 * the same request, still gets MISMATCH with the bytes' size and hash.
 */

const BASE = 'http://carnet.test/fhir';
const sha1 = (bytes: Buffer) => createHash('sha1').update(bytes).digest('base64');
const errorCode = (body: string) => (JSON.parse(body) as Partial<OperationOutcome>).issue?.[0]?.details?.coding?.[0]?.code;

type Answer = { statusCode: number; headers: Record<string, unknown>; body: string };

/** An ITI-65 submission by the system client for `patient`: the stored Binary's id and bytes. */
async function submitted(space: Space, patient: string, label?: string): Promise<{ id: string; binaryId: string; bytes: Buffer }> {
  const bytes = Buffer.from(`%PDF-1.4\n% secret ${randomUUID()}\n%%EOF\n`);
  const bundle = provideBundle(patient, [{ bytes, author: space.doctor }]);
  (bundle.entry[0]!.resource as List).source = { reference: space.doctor };
  if (label) (bundle.entry[1]!.resource as DocumentReference).securityLabel = [{ coding: [{ system: VISIBILITY, code: label }] }];
  const res = await space.app.inject({ method: 'POST', url: '/fhir', headers: { authorization: await space.systemAuth(), 'content-type': FHIR_JSON }, payload: bundle });
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body.slice(0, 400)}`);
  const locations = (res.json() as Bundle).entry!.map((e) => e.response!.location!.split('/')[1]!);
  return { id: locations[1]!, binaryId: locations[2]!, bytes };
}

/** What an attachment says of the bytes: nothing, their true size and hash, or a guess. */
const DESCRIPTIONS = {
  nothing: () => ({}),
  'the true size and hash': (bytes: Buffer) => ({ size: bytes.length, hash: sha1(bytes) }),
  'the true size, a wrong hash': (bytes: Buffer) => ({ size: bytes.length, hash: sha1(Buffer.from('guess')) }),
  'a wrong size': (bytes: Buffer) => ({ size: bytes.length + 1 }),
  'the true hash alone': (bytes: Buffer) => ({ hash: sha1(bytes) }),
  'a wrong hash alone': () => ({ hash: sha1(Buffer.from('guess')) }),
};

t.test('a Binary the writer may not read is answered as one that does not exist', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const doctor = await professionalBearer(app, space.users.doctor);
  const permitted = await professionalBearer(app, space.users.permittedPro);
  const alice = await holderBearer(app, space.users.alice);
  const writeOnly = await space.systemAuth('system/DocumentReference.c system/Binary.c');
  const bobs = await submitted(space, space.bob);
  const masked = await submitted(space, space.alice, 'MASQUE_PS');

  const professionalDocument = (attachment: Record<string, unknown>) => ({ ...document(space.alice, undefined, 'probe'), content: [{ attachment: { contentType: 'application/pdf', ...attachment } }] });
  const patientDocument = (attachment: Record<string, unknown>) => ({
    ...professionalDocument(attachment),
    category: [{ coding: [{ system: CLASS_SYSTEM, code: '90' }] }],
    type: { coding: [{ system: DOCPAT_SYSTEM, code: 'DOCPAT01' }] },
  });
  const ways = {
    POST: (authorization: string, doc: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: { authorization, 'content-type': FHIR_JSON }, payload: doc }),
    'a transaction': (authorization: string, doc: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: doc, request: { method: 'POST', url: 'DocumentReference' } }] } }),
  };
  /** The answer with the Binary's id (and the request's own ids) taken out: what tells one Binary from another. */
  const seen = (res: Answer, binaryId: string) => ({
    status: res.statusCode,
    type: res.headers['content-type'],
    code: errorCode(res.body),
    body: res.body.split(binaryId).join('<id>'),
  });

  const cases = [
    { who: 'a professional', what: 'another patient\'s document', authorization: doctor, target: bobs, make: professionalDocument },
    { who: 'a professional the patient permitted', what: 'a document she masked from professionals', authorization: permitted, target: masked, make: professionalDocument },
    { who: 'the patient', what: 'another patient\'s document', authorization: alice, target: bobs, make: patientDocument },
    { who: 'a system client that may write but not read', what: 'any stored document', authorization: writeOnly, target: bobs, make: professionalDocument },
  ];
  for (const c of cases) {
    t.test(`${c.who}, naming the bytes of ${c.what}`, async (t) => {
      for (const [way, send] of Object.entries(ways)) {
        for (const [said, describe] of Object.entries(DESCRIPTIONS)) {
          for (const form of [(id: string) => `Binary/${id}`, (id: string) => `${BASE}/Binary/${id}`, (id: string) => `Binary/${id}/_history/1`]) {
            const missing = `missing-${randomUUID()}`;
            const attachment = describe(c.target.bytes);
            const hidden = await send(c.authorization, c.make({ url: form(c.target.binaryId), ...attachment }));
            const absent = await send(c.authorization, c.make({ url: form(missing), ...attachment }));
            const what = `${way}, ${form('x')}, ${said}`;
            t.equal(hidden.statusCode, 422, `${what} (${hidden.body.slice(0, 300)})`);
            t.equal(errorCode(hidden.body), 'FHIR_ERR_DOC_CONTENT_MISSING', what);
            t.same(seen(hidden, c.target.binaryId), seen(absent, missing), `${what}: the same answer as for a Binary that does not exist`);
          }
        }
      }
    });
  }

  t.test('nothing was stored, and the patient\'s trail shows the refusal', async (t) => {
    const system = await space.systemAuth();
    const count = await app.inject({ url: `/fhir/DocumentReference?subject=${space.alice}&description=probe&_summary=count`, headers: { authorization: system } });
    t.equal((count.json() as Bundle).total, 0, 'no probe was stored');
    const trail = async (entity: string, outcome: string) => {
      await app.audit.settle();
      const res = await app.inject({ url: `/fhir/AuditEvent?entity=${entity}&outcome=${outcome}&_summary=count`, headers: { authorization: system } });
      return (res.json() as Bundle).total ?? 0;
    };
    const before = { allowed: await trail(`Binary/${bobs.binaryId}`, '0'), refused: await trail(`DocumentReference/${bobs.id}`, '4') };
    const probe = await ways.POST(doctor, professionalDocument({ url: `Binary/${bobs.binaryId}`, hash: sha1(bobs.bytes) }));
    t.equal(errorCode(probe.body), 'FHIR_ERR_DOC_CONTENT_MISSING');
    t.equal(await trail(`DocumentReference/${bobs.id}`, '4'), before.refused + 1, 'a refused read of the document that holds the bytes');
    t.equal(await trail(`Binary/${bobs.binaryId}`, '0'), before.allowed, 'and no allowed access to them');
    const read = await app.inject({ url: `/fhir/Binary/${bobs.binaryId}`, headers: { authorization: doctor, accept: 'application/pdf' } });
    t.equal(read.statusCode, 403, 'the professional may indeed not read the other patient\'s bytes');
  });
});

t.test('whoever may read the bytes, or sends them, still gets MISMATCH with details', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const doctor = await professionalBearer(app, space.users.doctor);
  const writeOnly = await space.systemAuth('system/DocumentReference.c system/Binary.c');
  const mismatch = (res: Answer, what: string, detail: RegExp) => {
    t.equal(res.statusCode, 422, `${what} (${res.body.slice(0, 300)})`);
    t.equal(errorCode(res.body), 'FHIR_ERR_DOC_CONTENT_MISMATCH', what);
    t.match(res.body, detail, `${what}: tells the bytes' size or hash`);
  };
  const guess = sha1(Buffer.from('guess'));
  const professionalDocument = (attachment: Record<string, unknown>, id?: string) =>
    ({ ...document(space.alice, undefined, 'legitimate'), ...(id ? { id } : {}), content: [{ attachment: { contentType: 'application/pdf', ...attachment } }] });

  t.test('a system client that may read every Binary', async () => {
    const bobs = await submitted(space, space.bob);
    const create = (attachment: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: { authorization: system, 'content-type': FHIR_JSON }, payload: professionalDocument(attachment) });
    mismatch(await create({ url: `Binary/${bobs.binaryId}`, size: bobs.bytes.length + 1 }), 'a wrong size', new RegExp(`\\(${bobs.bytes.length}\\)`));
    mismatch(await create({ url: `Binary/${bobs.binaryId}/_history/1`, hash: guess }), 'a wrong hash of a version', new RegExp(sha1(bobs.bytes).replace(/[+/]/g, '\\$&')));
  });

  t.test('a professional submitting the bytes with the document (ITI-65, a plain transaction)', async (t) => {
    const bytes = Buffer.from(`%PDF-1.4\n% ${randomUUID()}\n%%EOF\n`);
    const iti65 = provideBundle(space.alice, [{ bytes, author: space.doctor }]);
    (iti65.entry[0]!.resource as List).source = { reference: space.doctor };
    (iti65.entry[1]!.resource as DocumentReference).content[0]!.attachment.hash = guess;
    const provide = await app.inject({ method: 'POST', url: '/fhir', headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: iti65 });
    t.equal(provide.statusCode, 422, provide.body.slice(0, 300));
    t.equal(errorCode(provide.body), 'FHIR_ERR_MHD_PROVIDE_BUNDLE', 'ITI-65 checks the hash against the Bundle\'s Binary first');
    t.match(provide.body, /hash is not the SHA-1/);

    const transaction = (authorization: string, attachment: Record<string, unknown>) => {
      const binaryUrl = `urn:uuid:${randomUUID()}`;
      const entry: BundleEntry[] = [
        { fullUrl: binaryUrl, resource: { resourceType: 'Binary', contentType: 'application/pdf', data: bytes.toString('base64') }, request: { method: 'POST', url: 'Binary' } },
        { resource: professionalDocument({ url: binaryUrl, ...attachment }) as DocumentReference, request: { method: 'POST', url: 'DocumentReference' } },
      ];
      return app.inject({ method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'transaction', entry } });
    };
    mismatch(await transaction(doctor, { size: bytes.length, hash: guess }), 'a plain transaction by the professional', new RegExp(`${bytes.length} bytes`));
    mismatch(await transaction(writeOnly, { size: bytes.length + 1 }), 'a plain transaction by a system client that may not read Binaries', new RegExp(`\\(${bytes.length}\\)`));
    const right = await transaction(doctor, { size: bytes.length, hash: sha1(bytes) });
    t.equal(right.statusCode, 200, `the right hash (${right.body.slice(0, 300)})`);
  });

  t.test('a professional posting the bytes for the document, then the document', async (t) => {
    const docId = `doc-${randomUUID()}`;
    const bytes = Buffer.from(`%PDF-1.4\n% ${randomUUID()}\n%%EOF\n`);
    const posted = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization: doctor, 'content-type': 'application/pdf', 'x-security-context': `DocumentReference/${docId}` }, payload: bytes });
    t.equal(posted.statusCode, 201, posted.body.slice(0, 300));
    const binaryId = String(posted.headers.location).split('/Binary/')[1]!.split('/')[0]!;
    const put = (attachment: Record<string, unknown>) =>
      app.inject({ method: 'PUT', url: `/fhir/DocumentReference/${docId}`, headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: professionalDocument({ url: `Binary/${binaryId}`, ...attachment }, docId) });
    mismatch(await put({ size: bytes.length, hash: guess }), 'the document its bytes name as their own', new RegExp(sha1(bytes).replace(/[+/]/g, '\\$&')));
    const stored = await put({ size: bytes.length, hash: sha1(bytes) });
    t.equal(stored.statusCode, 201, stored.body.slice(0, 300));
    const read = await app.inject({ url: `/fhir/Binary/${binaryId}`, headers: { authorization: doctor, accept: 'application/pdf' } });
    t.equal(read.statusCode, 200, 'and the professional reads them through it');

    // A document of the patient the professional may read (the regular doctor sees even what she masked).
    const masked = await submitted(space, space.alice, 'MASQUE_PS');
    const create = await app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: professionalDocument({ url: `Binary/${masked.binaryId}`, size: masked.bytes.length + 3 }) });
    mismatch(create, 'the bytes of a document the professional may read', new RegExp(`\\(${masked.bytes.length}\\)`));
  });
});
