import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

const FHIR = 'application/fhir+json';

t.test('If-None-Match on read and vread (http.html#cread, RFC 9110 §13.1.2)', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const pdf = (text: string) => ({ method: 'PUT' as const, url: '/fhir/Binary/bb1', headers: { authorization, 'content-type': 'application/pdf' }, payload: Buffer.from(text) });
  for (const text of ['%PDF-1.4 one', '%PDF-1.4 two', '%PDF-1.4 three']) t.ok([200, 201].includes((await app.inject(pdf(text))).statusCode));
  const patient = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Patient', gender: 'female' } });
  const patientId = patient.json().id as string;
  const get = (url: string, headers: Record<string, string> = {}) => app.inject({ url, headers: { authorization, ...headers } });

  t.test('Binary read: the current ETag gives 304, raw or as FHIR JSON', async (t) => {
    for (const accept of [undefined, FHIR, 'application/pdf']) {
      const res = await get('/fhir/Binary/bb1', { 'if-none-match': 'W/"3"', ...(accept ? { accept } : {}) });
      t.equal(res.statusCode, 304, `Accept ${accept}`);
      t.equal(res.headers.etag, 'W/"3"');
      t.equal(res.body, '', 'no body with a 304');
    }
    const json = await get('/fhir/Binary/bb1?_format=json', { 'if-none-match': '"3"' });
    t.equal(json.statusCode, 304, 'a strong tag compares weakly');
  });

  t.test('Binary read: another ETag still gets the bytes', async (t) => {
    const res = await get('/fhir/Binary/bb1', { 'if-none-match': 'W/"2"' });
    t.equal(res.statusCode, 200);
    t.equal(res.body, '%PDF-1.4 three');
    t.equal(res.headers.etag, 'W/"3"');
    const json = await get('/fhir/Binary/bb1', { 'if-none-match': 'W/"1", W/"2"', accept: FHIR });
    t.equal(json.statusCode, 200);
    t.equal(Buffer.from(json.json().data, 'base64').toString(), '%PDF-1.4 three');
  });

  t.test('Binary vread: 304 when the ETag is that version\'s', async (t) => {
    const hit = await get('/fhir/Binary/bb1/_history/2', { 'if-none-match': 'W/"2"' });
    t.equal(hit.statusCode, 304);
    t.equal(hit.headers.etag, 'W/"2"');
    t.equal((await get('/fhir/Binary/bb1/_history/2', { 'if-none-match': 'W/"2"', accept: FHIR })).statusCode, 304);
    const miss = await get('/fhir/Binary/bb1/_history/2', { 'if-none-match': 'W/"3"' });
    t.equal(miss.statusCode, 200);
    t.equal(miss.body, '%PDF-1.4 two');
  });

  t.test('Binary: an Accept that cannot be met is still 406, not 304', async (t) => {
    const res = await get('/fhir/Binary/bb1', { 'if-none-match': 'W/"3"', accept: 'image/png' });
    t.equal(res.statusCode, 406);
  });

  t.test('If-None-Match: * matches any existing resource', async (t) => {
    for (const url of [`/fhir/Patient/${patientId}`, `/fhir/Patient/${patientId}/_history/1`, '/fhir/Binary/bb1', '/fhir/Binary/bb1/_history/1']) {
      const res = await get(url, { 'if-none-match': '*' });
      t.equal(res.statusCode, 304, url);
      t.ok(res.headers.etag, url);
    }
    t.equal((await get(`/fhir/Patient/${patientId}`, { 'if-none-match': 'W/"9", *' })).statusCode, 304, '* in a list');
    t.equal((await get('/fhir/Binary/bb1', { 'if-none-match': '*', accept: FHIR })).statusCode, 304);
    t.equal((await get('/fhir/Patient/nobody', { 'if-none-match': '*' })).statusCode, 404, 'nothing to match');
  });

  t.test('Patient vread: 304 on that version\'s ETag, 200 otherwise', async (t) => {
    t.equal((await get(`/fhir/Patient/${patientId}/_history/1`, { 'if-none-match': 'W/"1"' })).statusCode, 304);
    t.equal((await get(`/fhir/Patient/${patientId}/_history/1`, { 'if-none-match': 'W/"2"' })).statusCode, 200);
    t.equal((await get(`/fhir/Patient/${patientId}`, { 'if-none-match': 'W/"1"' })).statusCode, 304, 'read as before');
  });

  t.test('If-Modified-Since: 304 from the version\'s Last-Modified on, 200 before it; If-None-Match wins', async (t) => {
    const lastModified = String((await get(`/fhir/Patient/${patientId}`)).headers['last-modified']);
    const secondBefore = new Date(Date.parse(lastModified) - 1000).toUTCString();
    const notModified = await get(`/fhir/Patient/${patientId}`, { 'if-modified-since': lastModified });
    t.equal(notModified.statusCode, 304);
    t.equal(notModified.headers.etag, 'W/"1"');
    t.equal((await get(`/fhir/Patient/${patientId}`, { 'if-modified-since': secondBefore })).statusCode, 200, 'modified since a second earlier');
    // bb1's three versions were written within a second or so: a date after that second is unambiguous.
    const secondAfter = new Date(Date.parse(String((await get('/fhir/Binary/bb1?_format=json')).headers['last-modified'])) + 1000).toUTCString();
    t.equal((await get('/fhir/Binary/bb1', { 'if-modified-since': secondAfter })).statusCode, 304, 'Binary too');
    t.equal((await get(`/fhir/Patient/${patientId}`, { 'if-modified-since': lastModified, 'if-none-match': 'W/"9"' })).statusCode, 200, 'If-None-Match decides when both are sent');
    t.equal((await get(`/fhir/Patient/${patientId}`, { 'if-modified-since': 'not a date' })).statusCode, 200, 'a date that cannot be read is ignored');
  });
});

t.test('If-Modified-Since cannot tell apart two versions written within one second: the resource is sent', async (t) => {
  let clock = Date.parse('2026-03-01T10:00:05.459Z');
  const { app, auth } = await buildTestServer(t, { now: () => clock });
  const authorization = await auth();
  const put = (gender: string) => app.inject({ method: 'PUT', url: '/fhir/Patient/ims1', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Patient', id: 'ims1', gender } });
  const get = (since: string) => app.inject({ url: '/fhir/Patient/ims1', headers: { authorization, 'if-modified-since': since } });

  const v1 = await put('female');
  const lastModified = v1.headers['last-modified'] as string;
  t.equal(lastModified, 'Sun, 01 Mar 2026 10:00:05 GMT');
  t.equal((await get(lastModified)).statusCode, 304, 'one version in that second: its own Last-Modified gives 304');
  clock += 135; // v2 in the same second
  await put('male');
  const res = await get(lastModified);
  t.equal(res.statusCode, 200, 'a client holding version 1 is sent version 2, not told it is current');
  t.equal(res.headers.etag, 'W/"2"');
  t.equal(res.json().gender, 'male');
  t.equal((await get('Sun, 01 Mar 2026 10:00:06 GMT')).statusCode, 304, 'a date after that second: 304');

  clock = Date.parse('2026-03-01T10:00:09.100Z'); // v3 alone in its second
  const v3 = await put('other');
  t.equal((await get(v3.headers['last-modified'] as string)).statusCode, 304, 'the only version of its second: 304 on its Last-Modified');
  t.equal((await get(lastModified)).statusCode, 200, 'an older date: 200');
});
