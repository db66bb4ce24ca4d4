import t from 'tap';
import type { Binary } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

/**
 * A raw upload's Content-Type is kept whole as Binary.contentType: its charset
 * says how to read the bytes, and the raw read answers with it.
 */
t.test('a Binary keeps the parameters of its Content-Type', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const latin1 = Buffer.from('caf\xe9 cr\xe8me', 'latin1');
  const created = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'text/plain ;charset = iso-8859-1' }, payload: latin1 });
  t.equal(created.statusCode, 201);
  const id = (created.json() as Binary).id!;
  t.equal((created.json() as Binary).contentType, 'text/plain; charset=iso-8859-1', 'stored with its charset, spaces tidied');

  const raw = await app.inject({ url: `/fhir/Binary/${id}`, headers: { authorization, accept: 'text/plain' } });
  t.equal(raw.statusCode, 200, 'Accept names the bare type: the raw bytes');
  t.equal(raw.headers['content-type'], 'text/plain; charset=iso-8859-1', 'answered with the charset');
  t.same(raw.rawPayload, latin1, 'the bytes as sent');

  const json = await app.inject({ url: `/fhir/Binary/${id}`, headers: { authorization, accept: 'application/fhir+json' } });
  t.equal((json.json() as Binary).contentType, 'text/plain; charset=iso-8859-1');
  t.equal(Buffer.from((json.json() as Binary).data ?? '', 'base64').toString('latin1'), 'café crème');

  const plain = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'application/pdf' }, payload: Buffer.from('%PDF-1.4') });
  t.equal((plain.json() as Binary).contentType, 'application/pdf', 'a type without parameters is unchanged');
});
