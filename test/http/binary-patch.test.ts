import { randomBytes } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import type { Binary, Bundle } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

/**
 * A JSON Patch of a Binary keeps its bytes unless it sets `/data`, through
 * the PATCH interaction and through a transaction's PATCH entry.
 */

const PATCH = 'application/json-patch+json';
const FHIR = 'application/fhir+json';

async function setup(t: Test) {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(3000)]);
  const created = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'application/pdf' }, payload: pdf });
  t.equal(created.statusCode, 201);
  const id = (created.json() as Binary).id!;
  const raw = async (url: string) => {
    const res = await app.inject({ url, headers: { authorization } });
    t.equal(res.statusCode, 200, url);
    return { bytes: res.rawPayload, type: res.headers['content-type'], etag: res.headers.etag };
  };
  const json = async (url: string) => (await app.inject({ url, headers: { authorization, accept: FHIR } })).json() as Binary;
  const patch = (operations: unknown[], headers: Record<string, string> = {}) =>
    app.inject({ method: 'PATCH', url: `/fhir/Binary/${id}`, headers: { authorization, 'content-type': PATCH, ...headers }, payload: JSON.stringify(operations) });
  const transaction = (operations: unknown[]) => app.inject({
    method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR },
    payload: {
      resourceType: 'Bundle', type: 'transaction',
      entry: [{
        resource: { resourceType: 'Binary', contentType: PATCH, data: Buffer.from(JSON.stringify(operations)).toString('base64') },
        request: { method: 'PATCH', url: `Binary/${id}` },
      }],
    },
  });
  return { id, pdf, raw, json, patch, transaction };
}

t.test('PATCH of a Binary that does not touch /data keeps its bytes', async (t) => {
  const { id, pdf, raw, json, patch } = await setup(t);
  const res = await patch([{ op: 'add', path: '/securityContext', value: { reference: 'Patient/sp1' } }]);
  t.equal(res.statusCode, 200);
  t.equal(res.headers.etag, 'W/"2"');
  const read = await raw(`/fhir/Binary/${id}`);
  t.equal(read.etag, 'W/"2"');
  t.equal(read.type, 'application/pdf');
  t.ok(read.bytes.equals(pdf), 'the same bytes as before the patch');
  const resource = await json(`/fhir/Binary/${id}`);
  t.equal(resource.data, pdf.toString('base64'), 'and as FHIR JSON, the same data');
  t.same(resource.securityContext, { reference: 'Patient/sp1' });
  t.ok((await raw(`/fhir/Binary/${id}/_history/2`)).bytes.equals(pdf), 'vread of the new version');

  t.equal((await patch([{ op: 'replace', path: '/contentType', value: 'application/octet-stream' }])).statusCode, 200);
  const retyped = await raw(`/fhir/Binary/${id}`);
  t.equal(retyped.type, 'application/octet-stream');
  t.ok(retyped.bytes.equals(pdf), 'a second patch keeps them too');
});

t.test('PATCH that adds /data stores the new content; older versions keep theirs', async (t) => {
  const { id, pdf, raw, json, patch } = await setup(t);
  const text = Buffer.from('plain text now\n');
  const res = await patch([
    { op: 'replace', path: '/contentType', value: 'text/plain' },
    { op: 'add', path: '/data', value: text.toString('base64') },
  ]);
  t.equal(res.statusCode, 200);
  const read = await raw(`/fhir/Binary/${id}`);
  t.equal(read.type, 'text/plain');
  t.ok(read.bytes.equals(text), 'the new bytes');
  t.equal((await json(`/fhir/Binary/${id}`)).data, text.toString('base64'));
  t.ok((await raw(`/fhir/Binary/${id}/_history/1`)).bytes.equals(pdf), 'version 1 still has the PDF');

  t.equal((await patch([{ op: 'add', path: '/data', value: '***not base64***' }])).statusCode, 400, 'data that is not base64');
  t.equal((await patch([{ op: 'add', path: '/data', value: Buffer.from('late').toString('base64') }], { 'if-match': 'W/"1"' })).statusCode, 412, 'a stale If-Match');
  t.equal((await patch([{ op: 'remove', path: '/data' }])).statusCode, 422, 'the stored resource holds no data to remove');
  const after = await raw(`/fhir/Binary/${id}`);
  t.equal(after.etag, 'W/"2"', 'none of the refused patches made a version');
  t.ok(after.bytes.equals(text));
});

t.test('a transaction PATCH entry of a Binary keeps its bytes, or sets new ones', async (t) => {
  const { id, pdf, raw, json, transaction } = await setup(t);
  const res = await transaction([{ op: 'add', path: '/securityContext', value: { reference: 'Patient/sp1' } }]);
  t.equal(res.statusCode, 200, res.body);
  t.match((res.json() as Bundle).entry, [{ response: { status: '200 OK', etag: 'W/"2"' } }]);
  t.ok((await raw(`/fhir/Binary/${id}`)).bytes.equals(pdf), 'the same bytes');
  t.equal((await json(`/fhir/Binary/${id}`)).securityContext?.reference, 'Patient/sp1');

  const next = randomBytes(500);
  t.equal((await transaction([{ op: 'add', path: '/data', value: next.toString('base64') }])).statusCode, 200);
  t.ok((await raw(`/fhir/Binary/${id}`)).bytes.equals(next), 'the new bytes');
  t.ok((await raw(`/fhir/Binary/${id}/_history/2`)).bytes.equals(pdf), 'version 2 keeps the old ones');
});
