import t from 'tap';
import { Client } from 'undici';
import type { Binary } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';
import { largePdf } from '../fixtures/mhd/provide-bundle.js';

/**
 * A download resumed over a real socket, as a patient's app or a hospital
 * viewer does it: the first part, then `Range: bytes=n-` with `If-Range`
 * set to the Last-Modified of the first answer, and the parts put together
 * are the document. undici is an independent HTTP client: what it reads is
 * what went over the wire (status, framing, headers, bytes).
 */
t.test('a PDF downloaded in two parts over HTTP is the PDF', async (t) => {
  const { app, auth } = await buildTestServer(t);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const client = new Client(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
  t.teardown(() => client.close());
  const authorization = await auth();
  const size = 1024 * 1024 + 123;
  const pdf = largePdf(size);

  const created = await client.request({ method: 'POST', path: '/fhir/Binary', headers: { authorization, 'content-type': 'application/pdf' }, body: pdf });
  t.equal(created.statusCode, 201);
  const id = (await created.body.json() as Binary).id!;
  const get = async (headers: Record<string, string>) => {
    const res = await client.request({ method: 'GET', path: `/fhir/Binary/${id}`, headers: { authorization, accept: 'application/pdf', ...headers } });
    return { status: res.statusCode, headers: res.headers, bytes: Buffer.from(await res.body.arrayBuffer()) };
  };

  // The connection broke after 300,000 bytes: the app kept them and the Last-Modified.
  const first = await get({ range: 'bytes=0-299999' });
  t.equal(first.status, 206);
  t.equal(first.headers['accept-ranges'], 'bytes');
  t.equal(first.headers['content-range'], `bytes 0-299999/${size}`);
  t.equal(first.headers['content-length'], '300000');
  t.equal(first.headers['transfer-encoding'], undefined, 'framed by Content-Length');
  t.equal(first.bytes.length, 300000);
  const lastModified = first.headers['last-modified'] as string;
  t.ok(lastModified);

  const rest = await get({ range: 'bytes=300000-', 'if-range': lastModified });
  t.equal(rest.status, 206, 'resumed');
  t.equal(rest.headers['content-range'], `bytes 300000-${size - 1}/${size}`);
  t.equal(rest.headers['content-length'], String(size - 300000));
  t.ok(Buffer.concat([first.bytes, rest.bytes]).equals(pdf), 'the two parts are the PDF, byte for byte');

  const trailer = await get({ range: 'bytes=-7' });
  t.equal(trailer.status, 206);
  t.equal(trailer.bytes.toString('latin1'), '\n%%EOF\n', 'a suffix range: the last 7 bytes');
  const lastByte = await get({ range: `bytes=${size - 1}-${size - 1}` });
  t.equal(lastByte.headers['content-range'], `bytes ${size - 1}-${size - 1}/${size}`);
  t.same([...lastByte.bytes], [pdf[size - 1]], 'the last byte alone');

  const etag = await get({ range: 'bytes=300000-', 'if-range': first.headers.etag as string });
  t.equal(etag.status, 200, 'If-Range with our (weak) ETag: the whole PDF');
  t.ok(etag.bytes.equals(pdf));

  const beyond = await get({ range: `bytes=${size}-` });
  t.equal(beyond.status, 416, 'nothing left to send');
  t.equal(beyond.headers['content-range'], `bytes */${size}`);
  t.equal(JSON.parse(beyond.bytes.toString('utf8')).resourceType, 'OperationOutcome');

  const several = await get({ range: 'bytes=0-1,5-6' });
  t.equal(several.status, 200, 'several ranges: the whole PDF');
  t.ok(several.bytes.equals(pdf));

  // The connection still works after a part that ended early in the blob's stream.
  const again = await get({ range: 'bytes=10-19' });
  t.ok(again.bytes.equals(pdf.subarray(10, 20)));
});
