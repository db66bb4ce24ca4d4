import t from 'tap';
import { Client } from 'fhir-kit-client';
import { request } from 'undici';
import { buildTestServer } from '../helpers/server.js';
import { freePort } from '../helpers/child-server.js';

/** A listening server on a real port, driven by independent clients (fhir-kit-client and undici). */
async function listeningServer(t: { teardown: (fn: () => unknown) => void }) {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const server = await buildTestServer(t, { config: { port, publicUrl } });
  await server.app.listen({ host: '127.0.0.1', port });
  const authorization = await server.auth();
  const client = new Client({ baseUrl: `${publicUrl}/fhir`, customHeaders: { Authorization: authorization } });
  return { ...server, publicUrl, authorization, client };
}

/** The HTTP status fhir-kit-client reports for a failed call (it rejects with `response.status`). */
async function statusOf(call: Promise<unknown>): Promise<number | undefined> {
  try {
    await call;
    return 200;
  } catch (err) {
    return (err as { response?: { status?: number } }).response?.status;
  }
}

t.test('CRUD, history and conditional operations through fhir-kit-client', async (t) => {
  const { client, publicUrl, authorization } = await listeningServer(t);

  const created = await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'Lefèvre', given: ['Émile'] }], identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '180017512345678' }] } }) as unknown as { id: string; meta: { versionId: string } };
  t.ok(created.id);
  t.equal(created.meta.versionId, '1');

  const read = await client.read({ resourceType: 'Patient', id: created.id }) as unknown as { resourceType: 'Patient'; name: Array<{ family: string }> };
  t.equal(read.name[0].family, 'Lefèvre');

  const updated = await client.update({ resourceType: 'Patient', id: created.id, body: { ...read, id: created.id, gender: 'male' } }) as unknown as { meta: { versionId: string } };
  t.equal(updated.meta.versionId, '2');
  const v1 = await client.vread({ resourceType: 'Patient', id: created.id, version: '1' }) as unknown as { gender?: string };
  t.notOk(v1.gender);

  const history = await client.history({ resourceType: 'Patient', id: created.id }) as unknown as { type: string; entry: unknown[] };
  t.equal(history.type, 'history');
  t.equal(history.entry.length, 2);

  const same = await client.create({
    resourceType: 'Patient',
    body: { resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '180017512345678' }] },
    options: { headers: { 'If-None-Exist': 'identifier=urn:oid:1.2.250.1.213.1.4.8|180017512345678' } },
  }) as unknown as { id: string };
  t.equal(same.id, created.id, 'conditional create found the existing patient');

  const conditional = await client.update({
    resourceType: 'Patient', searchParams: { identifier: 'urn:oid:1.2.250.1.213.1.4.8|180017512345678' },
    body: { resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '180017512345678' }], gender: 'female' },
  }) as unknown as { id: string; meta: { versionId: string } };
  t.equal(conditional.id, created.id);
  t.equal(conditional.meta.versionId, '3');

  await client.delete({ resourceType: 'Patient', id: created.id });
  t.equal(await statusOf(client.read({ resourceType: 'Patient', id: created.id })), 410, 'deleted: 410');

  // undici, as another independent client: ETag and If-Match over the wire.
  const res = await request(`${publicUrl}/fhir/Patient`, {
    method: 'POST', headers: { authorization, 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Roux' }] }),
  });
  t.equal(res.statusCode, 201);
  t.equal(res.headers.etag, 'W/"1"');
  const id = ((await res.body.json()) as { id: string }).id;
  const stale = await request(`${publicUrl}/fhir/Patient/${id}`, {
    method: 'PUT', headers: { authorization, 'content-type': 'application/fhir+json', 'if-match': 'W/"7"' },
    body: JSON.stringify({ resourceType: 'Patient', id }),
  });
  t.equal(stale.statusCode, 412);
  await stale.body.text();
});

t.test('without a token, every FHIR request but metadata is 401', async (t) => {
  const { publicUrl } = await listeningServer(t);
  const anonymous = new Client({ baseUrl: `${publicUrl}/fhir` });
  const cs = await anonymous.capabilityStatement() as { resourceType: string; fhirVersion: string };
  t.equal(cs.resourceType, 'CapabilityStatement');
  t.equal(cs.fhirVersion, '4.0.1');
  t.equal(await statusOf(anonymous.read({ resourceType: 'Patient', id: 'x' })), 401);
  const res = await request(`${publicUrl}/fhir/Patient`, { headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' } });
  t.equal(res.statusCode, 401, 'alg none is refused');
  t.match(res.headers['www-authenticate'], /Bearer/);
  await res.body.text();
});

t.test('Binary: raw bytes in and out, byte for byte', async (t) => {
  const { publicUrl, authorization } = await listeningServer(t);
  const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(3 * 1024 * 1024 + 17, 7), Buffer.from('\n%%EOF')]);
  const created = await request(`${publicUrl}/fhir/Binary`, { method: 'POST', headers: { authorization, 'content-type': 'application/pdf' }, body: pdf });
  t.equal(created.statusCode, 201);
  const location = created.headers.location as string;
  await created.body.text();
  const id = /Binary\/([^/]+)/.exec(location)![1];
  const raw = await request(`${publicUrl}/fhir/Binary/${id}`, { headers: { authorization, accept: 'application/pdf' } });
  t.equal(raw.statusCode, 200);
  t.match(raw.headers['content-type'], /^application\/pdf/);
  t.ok(Buffer.from(await raw.body.arrayBuffer()).equals(pdf), 'same bytes');
  const json = await request(`${publicUrl}/fhir/Binary/${id}`, { headers: { authorization, accept: 'application/fhir+json' } });
  const binary = (await json.body.json()) as { resourceType: string; contentType: string; data: string };
  t.equal(binary.resourceType, 'Binary');
  t.equal(binary.contentType, 'application/pdf');
  t.ok(Buffer.from(binary.data, 'base64').equals(pdf), 'base64 data decodes to the same bytes');
});
