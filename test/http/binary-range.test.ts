import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import t from 'tap';
import type { Test } from 'tap';
import type { AuditEvent, Binary, Bundle, DocumentReference, List, OperationOutcome } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';
import { largePdf, provideBundle } from '../fixtures/mhd/provide-bundle.js';
import { buildSpace, FHIR_JSON, holderBearer, professionalBearer } from '../helpers/people.js';

/**
 * Byte ranges on a Binary's raw read and vread (RFC 9110 §14): a viewer
 * fetching part of a large PDF, a download resumed where it stopped. The
 * PDF spans several chunks of the blob store's stream (64 KiB each), so a
 * range that starts in one and ends in another is read across them.
 */
const SIZE = 200_000;
const pdf = largePdf(SIZE);

async function setUp(t: Test, options: { now?: () => number } = {}) {
  const server = await buildTestServer(t, options);
  const authorization = await server.auth();
  const created = await server.app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'application/pdf' }, payload: pdf });
  t.equal(created.statusCode, 201);
  const id = (created.json() as Binary).id!;
  const get = (headers: Record<string, string> = {}, url = `/fhir/Binary/${id}`) => server.app.inject({ url, headers: { authorization, ...headers } });
  return { ...server, authorization, id, get };
}

t.test('a single range: 206 with exactly those bytes', async (t) => {
  const { get, id } = await setUp(t);

  const whole = await get();
  t.equal(whole.statusCode, 200);
  t.equal(whole.headers['accept-ranges'], 'bytes', 'the raw read advertises byte ranges');
  t.equal(whole.headers['content-length'], String(SIZE));
  t.equal(whole.headers['content-range'], undefined);

  const cases: Array<[string, number, number]> = [
    ['bytes=0-99', 0, 99],
    ['bytes=65530-131080', 65530, 131080], // across two chunk boundaries
    [`bytes=${SIZE - 1}-${SIZE - 1}`, SIZE - 1, SIZE - 1], // the last byte alone
    ['bytes=-500', SIZE - 500, SIZE - 1], // suffix: the last 500 bytes
    ['bytes=150000-', 150000, SIZE - 1], // a resumed download
    ['bytes=100-9999999', 100, SIZE - 1], // a last-pos past the end stops at the last byte
    [`bytes=-${SIZE * 2}`, 0, SIZE - 1], // a suffix longer than the whole
    ['bytes=0-', 0, SIZE - 1],
    ['BYTES=10-19', 10, 19],
  ];
  for (const [range, start, end] of cases) {
    const res = await get({ range });
    t.equal(res.statusCode, 206, range);
    t.equal(res.headers['content-range'], `bytes ${start}-${end}/${SIZE}`, `${range}: Content-Range`);
    t.equal(res.headers['content-length'], String(end - start + 1), `${range}: Content-Length`);
    t.equal(res.rawPayload.length, end - start + 1, `${range}: that many bytes`);
    t.ok(res.rawPayload.equals(pdf.subarray(start, end + 1)), `${range}: exactly those bytes`);
    t.equal(res.headers['content-type'], 'application/pdf');
    t.equal(res.headers.etag, 'W/"1"', 'the version\'s ETag, as on the 200');
    t.equal(res.headers['last-modified'], whole.headers['last-modified']);
    t.equal(res.headers['accept-ranges'], 'bytes');
    t.equal(res.headers['x-content-type-options'], 'nosniff');
    t.match(res.headers['content-security-policy'], /sandbox/);
  }
  const last = await get({ range: `bytes=${SIZE - 1}-` });
  t.same([...last.rawPayload], [pdf[SIZE - 1]], 'the last byte of the PDF (the newline after %%EOF)');
  t.equal(last.rawPayload.toString('latin1'), '\n');
  const tail = await get({ range: 'bytes=-7' });
  t.equal(tail.rawPayload.toString('latin1'), '\n%%EOF\n', 'a suffix range: the PDF trailer');

  const vread = await get({ range: 'bytes=-100' }, `/fhir/Binary/${id}/_history/1`);
  t.equal(vread.statusCode, 206, 'a vread takes a range too');
  t.equal(vread.headers['content-range'], `bytes ${SIZE - 100}-${SIZE - 1}/${SIZE}`);
  t.ok(vread.rawPayload.equals(pdf.subarray(SIZE - 100)));
});

t.test('a range that starts at or beyond the end: 416, an OperationOutcome', async (t) => {
  const { get } = await setUp(t);
  for (const range of [`bytes=${SIZE}-`, `bytes=${SIZE}-${SIZE + 10}`, 'bytes=99999999999-', 'bytes=-0']) {
    const res = await get({ range });
    t.equal(res.statusCode, 416, range);
    t.equal(res.headers['content-range'], `bytes */${SIZE}`, `${range}: the size, for the client to ask again`);
    t.match(res.headers['content-type'], /^application\/fhir\+json/);
    t.match(res.json() as OperationOutcome, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'processing', details: { coding: [{ code: 'FHIR_ERR_HTTP_RANGE_NOT_SATISFIABLE' }] } }],
    });
    t.notOk(res.rawPayload.includes(pdf.subarray(0, 8)), 'none of the bytes');
  }
});

t.test('what is not one bytes range is ignored: 200 with the whole body', async (t) => {
  const { get } = await setUp(t);
  for (const range of ['bytes=0-1,5-6', 'bytes=0-1, -5', 'items=0-1', 'bytes=5-2', 'bytes=abc', 'bytes=', 'bytes 0-1', '0-1', 'bytes=1.5-2']) {
    const res = await get({ range });
    t.equal(res.statusCode, 200, range);
    t.equal(res.headers['content-range'], undefined);
    t.equal(res.headers['content-length'], String(SIZE));
    t.ok(res.rawPayload.equals(pdf), `${range}: the whole PDF`);
  }
});

t.test('If-Range: the Last-Modified date resumes; an ETag (ours are weak) sends the whole', async (t) => {
  let clock = Date.now();
  const { app, authorization, get, id } = await setUp(t, { now: () => clock });
  const first = await get();
  const lastModified = first.headers['last-modified'] as string;

  const byDate = await get({ range: 'bytes=100-199', 'if-range': lastModified });
  t.equal(byDate.statusCode, 206, 'the date of the version held: the range');
  t.ok(byDate.rawPayload.equals(pdf.subarray(100, 200)));

  for (const validator of ['W/"1"', '"1"', 'W/"2"', 'not a validator', new Date(Date.parse(lastModified) - 1000).toUTCString(), '2020-01-01']) {
    const res = await get({ range: 'bytes=100-199', 'if-range': validator });
    t.equal(res.statusCode, 200, `If-Range: ${validator}`);
    t.ok(res.rawPayload.equals(pdf), 'the whole body');
  }
  t.equal((await get({ 'if-range': lastModified })).statusCode, 200, 'If-Range without Range is ignored');

  // A new version written in the same second: its Last-Modified names both, so it cannot resume.
  const other = Buffer.from('%PDF-1.4\nanother version\n%%EOF\n');
  const put = (bytes: Buffer) => app.inject({ method: 'PUT', url: `/fhir/Binary/${id}`, headers: { authorization, 'content-type': 'application/pdf' }, payload: bytes });
  t.equal((await put(other)).statusCode, 200);
  const second = await get();
  t.equal(second.headers['last-modified'], lastModified, 'the same second');
  const ambiguous = await get({ range: 'bytes=0-3', 'if-range': lastModified });
  t.equal(ambiguous.statusCode, 200, 'a date two versions share is no strong validator');
  t.ok(ambiguous.rawPayload.equals(other));
  const vreadAmbiguous = await get({ range: 'bytes=0-3', 'if-range': lastModified }, `/fhir/Binary/${id}/_history/2`);
  t.equal(vreadAmbiguous.statusCode, 200, 'the same for a vread of that version');

  clock += 2000;
  t.equal((await put(pdf)).statusCode, 200);
  const third = await get();
  t.not(third.headers['last-modified'], lastModified);
  const stale = await get({ range: 'bytes=0-3', 'if-range': lastModified });
  t.equal(stale.statusCode, 200, 'a client holding an older version gets the new one whole');
  t.ok(stale.rawPayload.equals(pdf));
  const fresh = await get({ range: `bytes=${SIZE - 10}-`, 'if-range': third.headers['last-modified'] as string });
  t.equal(fresh.statusCode, 206, 'the current date resumes the download');
  t.ok(fresh.rawPayload.equals(pdf.subarray(SIZE - 10)));
  const v1 = await get({ range: 'bytes=0-3', 'if-range': lastModified }, `/fhir/Binary/${id}/_history/1`);
  t.equal(v1.statusCode, 206, 'version 1 is the first of its second: its date is strong for its vread');
  t.equal(v1.rawPayload.toString('latin1'), '%PDF');
});

t.test('conditional reads, the FHIR JSON form and HEAD are as before', async (t) => {
  const { app, authorization, get, id } = await setUp(t);

  const notModified = await get({ range: 'bytes=0-9', 'if-none-match': 'W/"1"' });
  t.equal(notModified.statusCode, 304, 'If-None-Match is evaluated first (RFC 9110 §13.2.2)');
  t.equal(notModified.rawPayload.length, 0);
  const modified = await get({ range: 'bytes=0-9', 'if-none-match': 'W/"0"' });
  t.equal(modified.statusCode, 206, 'a condition that does not hold leaves the range');

  const json = await get({ range: 'bytes=0-9', accept: 'application/fhir+json' });
  t.equal(json.statusCode, 200, 'Range on the Binary resource is ignored');
  t.equal(json.headers['content-range'], undefined);
  t.equal(json.headers['accept-ranges'], undefined, 'and not advertised');
  t.ok(Buffer.from((json.json() as Binary).data!, 'base64').equals(pdf));
  const jsonBeyond = await get({ range: `bytes=${SIZE * 10}-`, accept: 'application/fhir+json' });
  t.equal(jsonBeyond.statusCode, 200, 'nor is it ever a 416');
  t.equal((await get({ range: 'bytes=0-9' }, `/fhir/Binary/${id}?_format=json`)).statusCode, 200, '_format asks for the resource too');

  const head = await app.inject({ method: 'HEAD', url: `/fhir/Binary/${id}`, headers: { authorization } });
  t.equal(head.statusCode, 200);
  t.equal(head.headers['accept-ranges'], 'bytes', 'HEAD advertises byte ranges');
  t.equal(head.headers['content-length'], String(SIZE));
  const headRange = await app.inject({ method: 'HEAD', url: `/fhir/Binary/${id}`, headers: { authorization, range: 'bytes=0-9' } });
  t.equal(headRange.statusCode, 200, 'Range is defined for GET only (RFC 9110 §14.2)');
  t.equal(headRange.headers['content-range'], undefined);
  t.equal(headRange.headers['content-length'], String(SIZE));
});

t.test('a range is the same read: the same refusals, the same audit', async (t) => {
  const { app, auth, get, id } = await setUp(t);
  const narrow = await auth('system/Patient.rs');
  const refused = await app.inject({ url: `/fhir/Binary/${id}`, headers: { authorization: narrow, range: 'bytes=0-9' } });
  t.equal(refused.statusCode, 403, 'no Binary scope: 403, range or not');
  t.equal(refused.json().resourceType, 'OperationOutcome');
  const beyond = await app.inject({ url: `/fhir/Binary/${id}`, headers: { authorization: narrow, range: `bytes=${SIZE}-` } });
  t.equal(beyond.statusCode, 403, 'an unsatisfiable range tells nothing (not even the size) to a caller who may not read');
  t.equal(beyond.headers['content-range'], undefined);
  t.equal((await app.inject({ url: `/fhir/Binary/${id}`, headers: { range: 'bytes=0-9' } })).statusCode, 401);
  t.equal((await get({ range: 'bytes=0-9' }, '/fhir/Binary/unknown')).statusCode, 404);

  // In a health space: the holder reads her document's bytes, another patient may not.
  const space = await buildSpace(t);
  const alice = await holderBearer(space.app, space.users.alice);
  const bob = await holderBearer(space.app, space.users.bob);
  const doctor = await professionalBearer(space.app, space.users.doctor);
  const submission = provideBundle(space.alice, [{ author: space.doctor, bytes: pdf }]);
  (submission.entry[0]!.resource as List).source = { reference: space.doctor };
  const provided = await space.app.inject({ method: 'POST', url: '/fhir', headers: { authorization: doctor, 'content-type': FHIR_JSON }, payload: submission });
  t.equal(provided.statusCode, 200);
  const docId = (provided.json() as Bundle).entry![1]!.response!.location!.split('/')[1]!;
  const doc = (await space.app.inject({ url: `/fhir/DocumentReference/${docId}`, headers: { authorization: doctor } })).json() as DocumentReference;
  const url = new URL(doc.content[0]!.attachment.url!).pathname;
  const read = (authorization: string, requestId: string, range?: string) =>
    space.app.inject({ url, headers: { authorization, 'x-request-id': requestId, ...(range ? { range } : {}) } });

  t.equal((await read(alice, 'alice-whole')).statusCode, 200);
  const part = await read(alice, 'alice-part', 'bytes=-1000');
  t.equal(part.statusCode, 206, 'the holder reads part of her document');
  t.ok(part.rawPayload.equals(pdf.subarray(SIZE - 1000)));
  const beyondEnd = await read(alice, 'alice-beyond', `bytes=${SIZE}-`);
  t.equal(beyondEnd.statusCode, 416);
  t.equal((await read(bob, 'bob-whole')).statusCode, 403);
  const bobPart = await read(bob, 'bob-part', 'bytes=0-9');
  t.equal(bobPart.statusCode, 403, 'another patient: 403, range or not');
  t.notOk(bobPart.rawPayload.includes(pdf.subarray(0, 10)));
  t.equal((await read(bob, 'bob-beyond', `bytes=${SIZE}-`)).statusCode, 403, 'not a 416 that would tell the size');

  const events = (await space.app.inject({ url: '/fhir/AuditEvent?_count=500', headers: { authorization: await space.systemAuth() } })).json() as Bundle;
  const audited = (requestId: string) => (events.entry ?? [])
    .map((e) => e.resource as AuditEvent)
    .filter((e) => e.source?.site === requestId)
    .map((e) => ({ subtype: e.subtype?.map((c) => c.code), outcome: e.outcome, entity: e.entity?.map((x) => x.what?.reference).sort() }));
  t.ok(audited('alice-whole').length > 0, 'the holder\'s read is audited');
  t.same(audited('alice-part'), audited('alice-whole'), 'a ranged read is audited as the whole read is');
  t.same(audited('alice-beyond'), audited('alice-whole'), 'so is one answered 416: the read was allowed');
  t.ok(audited('bob-whole').length > 0, 'a refusal is audited');
  t.same(audited('bob-part'), audited('bob-whole'), 'a refused ranged read as a refused read');
});

t.test('an empty Binary has no byte to name', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const created = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'text/plain' }, payload: '' });
  const id = (created.json() as Binary).id!;
  const from = await app.inject({ url: `/fhir/Binary/${id}`, headers: { authorization, range: 'bytes=0-' } });
  t.equal(from.statusCode, 416);
  t.equal(from.headers['content-range'], 'bytes */0');
  const suffix = await app.inject({ url: `/fhir/Binary/${id}`, headers: { authorization, range: 'bytes=-5' } });
  t.equal(suffix.statusCode, 200, 'a suffix of nothing: the (empty) whole');
  t.equal(suffix.headers['content-length'], '0');
});

t.test('the blob store is asked for the range alone, not the bytes before it', async (t) => {
  const { app, get, id } = await setUp(t);
  const key = (await app.engine.current('Binary', id))!.blob!;
  const calls: Array<[string, number, number]> = [];
  const blobs = app.engine.blobs;
  const openRange = blobs.openRange.bind(blobs);
  // Watches the real store's ranged reads (the bytes still come from it).
  blobs.openRange = async (k, start, end) => {
    calls.push([k, start, end]);
    return openRange(k, start, end);
  };
  t.teardown(() => { blobs.openRange = openRange; });
  const res = await get({ range: 'bytes=-1000' });
  t.equal(res.statusCode, 206);
  t.same(calls, [[key, SIZE - 1000, SIZE - 1]], 'asked for exactly the range');
  t.ok(res.rawPayload.equals(pdf.subarray(SIZE - 1000)));
  t.equal((await get()).statusCode, 200);
  t.equal(calls.length, 1, 'a whole read does not ask for a range');
});
