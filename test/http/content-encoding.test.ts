import { gzipSync } from 'node:zlib';
import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

/**
 * Found by an exploratory tester: a Binary sent with `Content-Encoding: gzip`
 * was stored as its compressed bytes and served back as the document (201,
 * silently corrupted); a gzipped FHIR JSON body was "not valid UTF-8". No
 * body is decoded: an encoded one is a 415 with `Accept-Encoding: identity`
 * (RFC 7694), and nothing is stored.
 */
t.test('request bodies with a Content-Encoding are refused, not stored encoded', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const pdf = Buffer.from('%PDF-1.7\n' + 'document text '.repeat(200));

  for (const [name, url, type, body] of [
    ['a raw Binary', '/fhir/Binary', 'application/pdf', gzipSync(pdf)],
    ['FHIR JSON', '/fhir/Patient', 'application/fhir+json', gzipSync(JSON.stringify({ resourceType: 'Patient', active: true }))],
  ] as const) {
    for (const encoding of ['gzip', 'br', 'GZIP, identity']) {
      const res = await app.inject({ method: 'POST', url, headers: { authorization, 'content-type': type, 'content-encoding': encoding }, payload: body });
      t.equal(res.statusCode, 415, `${name}, Content-Encoding ${encoding}: 415`);
      t.equal(res.headers['accept-encoding'], 'identity', `${name}: the answer says to send it unencoded`);
      t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ code: 'not-supported', details: { coding: [{ code: 'FHIR_ERR_HTTP_MEDIA_TYPE' }] }, diagnostics: /Content-Encoding .* is not decoded/ }] });
    }
  }
  const stored = await app.inject({ url: '/fhir/Binary?_summary=count', headers: { authorization } });
  t.equal(stored.json().total, 0, 'no Binary was stored');
  t.equal((await app.inject({ url: '/fhir/Patient?_summary=count', headers: { authorization } })).json().total, 0, 'no Patient either');

  const identity = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'application/pdf', 'content-encoding': 'identity' }, payload: pdf });
  t.equal(identity.statusCode, 201, 'Content-Encoding: identity is no encoding');
  const bytes = await app.inject({ url: `/fhir/Binary/${identity.json().id}`, headers: { authorization, accept: 'application/pdf' } });
  t.ok(bytes.rawPayload.equals(pdf), 'and its bytes are those sent');
  const read = await app.inject({ url: `/fhir/Binary/${identity.json().id}`, headers: { authorization, 'content-encoding': 'gzip' } });
  t.equal(read.statusCode, 200, 'a request without a body is not refused for the header');
});
