import t from 'tap';
import type { Binary, Bundle, DocumentReference } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';
import { largePdf, provideBundle } from '../fixtures/mhd/provide-bundle.js';

const FHIR = 'application/fhir+json';
const MiB = 1024 * 1024;

t.test('ITI-68 Retrieve Document', async (t) => {
  // base64 in a JSON Bundle makes a 20 MiB PDF about 27 MiB of request body.
  const { app, auth } = await buildTestServer(t, { config: { binaryMaxBytes: 24 * MiB, bodyLimit: 40 * MiB } });
  const authorization = await auth();
  const headers = { authorization, 'content-type': FHIR };
  // The fixture's author and SubmissionSet source.
  await app.inject({ method: 'PUT', url: '/fhir/Practitioner/dr-martin', headers, payload: { resourceType: 'Practitioner', id: 'dr-martin', name: [{ family: 'Martin' }] } });
  await app.inject({ method: 'PUT', url: '/fhir/Patient/p68', headers, payload: { resourceType: 'Patient', id: 'p68', name: [{ family: 'Leroy' }] } });

  /** Submits through ITI-65 and returns the path of the document's attachment url, as ITI-67 gives it. */
  const submit = async (bytes: Buffer, contentType = 'application/pdf') => {
    const res = await app.inject({ method: 'POST', url: '/fhir', headers, payload: JSON.stringify(provideBundle('Patient/p68', [{ bytes, contentType }])) });
    if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body.slice(0, 400)}`);
    const docId = (res.json() as Bundle).entry![1]!.response!.location!.split('/')[1];
    const doc = (await app.inject({ url: `/fhir/DocumentReference/${docId}`, headers: { authorization } })).json() as DocumentReference;
    const url = new URL(doc.content[0]!.attachment.url!);
    t.equal(url.origin, 'http://carnet.test');
    return url.pathname;
  };

  t.test('a 20 MiB PDF comes back byte for byte with its content type', async (t) => {
    const pdf = largePdf(20 * MiB);
    const path = await submit(pdf);
    const res = await app.inject({ url: path, headers: { authorization } });
    t.equal(res.statusCode, 200);
    t.equal(res.headers['content-type'], 'application/pdf');
    t.equal(Number(res.headers['content-length']), pdf.length);
    t.equal(res.rawPayload.length, pdf.length);
    t.ok(res.rawPayload.equals(pdf), 'identical bytes');
    const accepted = await app.inject({ url: path, headers: { authorization, accept: 'application/pdf' } });
    t.equal(accepted.statusCode, 200);
    t.ok(accepted.rawPayload.equals(pdf), 'identical bytes when Accept names the stored type');
  });

  t.test('other content types, and the Binary resource when FHIR JSON is asked for', async (t) => {
    const text = Buffer.from('Compte rendu de consultation\n', 'utf8');
    const path = await submit(text, 'text/plain');
    const raw = await app.inject({ url: path, headers: { authorization, accept: '*/*' } });
    t.equal(raw.statusCode, 200);
    t.match(raw.headers['content-type'], /^text\/plain/);
    t.ok(raw.rawPayload.equals(text));
    const json = await app.inject({ url: path, headers: { authorization, accept: FHIR } });
    t.equal(json.statusCode, 200);
    const binary = json.json() as Binary;
    t.equal(binary.resourceType, 'Binary');
    t.equal(binary.contentType, 'text/plain');
    t.same(Buffer.from(binary.data!, 'base64'), text);
    t.match(binary.securityContext?.reference, /^DocumentReference\/[A-Za-z0-9\-.]+$/, 'placed in its document\'s space through securityContext');
  });

  t.test('404 for an unknown Binary', async (t) => {
    const res = await app.inject({ url: '/fhir/Binary/does-not-exist', headers: { authorization } });
    t.equal(res.statusCode, 404);
    t.equal(res.json().resourceType, 'OperationOutcome');
  });

  t.test('406 when Accept names neither the stored type nor FHIR JSON', async (t) => {
    const path = await submit(Buffer.from('%PDF-1.4\n%%EOF\n'));
    for (const accept of ['image/png', 'text/html, text/plain;q=0.5']) {
      const res = await app.inject({ url: path, headers: { authorization, accept } });
      t.equal(res.statusCode, 406, accept);
    }
    t.equal((await app.inject({ url: path, headers: { authorization, accept: 'application/*' } })).statusCode, 200, 'a range covering the type is fine');
  });

  t.test('403 for a caller whose scopes do not cover Binary', async (t) => {
    const path = await submit(Buffer.from('%PDF-1.4\n% secret\n%%EOF\n'));
    const narrow = await auth('system/DocumentReference.rs');
    const res = await app.inject({ url: path, headers: { authorization: narrow } });
    t.equal(res.statusCode, 403);
    t.notMatch(res.body, /secret/);
    t.equal((await app.inject({ url: path, headers: {} })).statusCode, 401, 'no token at all: 401');
  });

  t.test('410 once the Binary is deleted', async (t) => {
    const path = await submit(Buffer.from('%PDF-1.4\n% to delete\n%%EOF\n'));
    const binary = (await app.inject({ url: path, headers: { authorization, accept: FHIR } })).json() as Binary;
    t.equal((await app.inject({ method: 'DELETE', url: path, headers: { authorization } })).statusCode, 409, 'not while its document exists');
    t.equal((await app.inject({ method: 'DELETE', url: `/fhir/${binary.securityContext!.reference}`, headers: { authorization } })).statusCode, 200, 'the document deleted first');
    const del = await app.inject({ method: 'DELETE', url: path, headers: { authorization } });
    t.ok(del.statusCode === 200 || del.statusCode === 204, `deleted (${del.statusCode})`);
    const res = await app.inject({ url: path, headers: { authorization } });
    t.equal(res.statusCode, 410);
    t.notMatch(res.body, /to delete/);
  });
});
