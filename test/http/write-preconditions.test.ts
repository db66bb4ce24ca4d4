import t from 'tap';
import type { Test } from 'tap';
import { buildTestServer } from '../helpers/server.js';

/**
 * Found by an exploratory tester: `If-Match: *` was always a 412; a list of
 * ETags (`W/"1", W/"4"`) never matched; on a deleted resource the 412 said
 * `If-Match W/"2" does not match the current version (W/"2")`; and
 * `If-None-Match` and `If-Unmodified-Since` were ignored on writes, so
 * `PUT` with `If-None-Match: *` (create only if absent) overwrote the
 * resource. RFC 9110 §13.1, §13.2.1; FHIR http.html#concurrency.
 */
t.test('preconditions of writes by id', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const json = { authorization, 'content-type': 'application/fhir+json' };
  const patient = (id: string, family: string) => ({ resourceType: 'Patient', id, name: [{ family }] });
  const put = (id: string, family: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'PUT', url: `/fhir/Patient/${id}`, headers: { ...json, ...headers }, payload: patient(id, family) });
  const patch = (id: string, headers: Record<string, string>) => app.inject({
    method: 'PATCH', url: `/fhir/Patient/${id}`, headers: { authorization, 'content-type': 'application/json-patch+json', ...headers },
    payload: JSON.stringify([{ op: 'replace', path: '/name/0/family', value: 'Patched' }]),
  });
  const remove = (id: string, headers: Record<string, string>) => app.inject({ method: 'DELETE', url: `/fhir/Patient/${id}`, headers: { authorization, ...headers } });
  const version = async (id: string) => (await app.inject({ url: `/fhir/Patient/${id}`, headers: { authorization } })).json().meta?.versionId as string | undefined;
  const refused = (t: Test, res: Awaited<ReturnType<typeof put>>, status: number, diagnostics: RegExp, name: string) => {
    t.equal(res.statusCode, status, `${name}: ${status}`);
    t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ diagnostics }] }, name);
  };

  t.equal((await put('p1', 'One')).statusCode, 201);
  t.equal((await put('p1', 'Two')).statusCode, 200);

  // If-Match: * and lists.
  t.equal((await put('p1', 'Three', { 'if-match': '*' })).statusCode, 200, 'If-Match: * on PUT of an existing resource');
  t.equal((await patch('p1', { 'if-match': '*' })).statusCode, 200, 'If-Match: * on PATCH');
  t.equal(await version('p1'), '4');
  t.equal((await put('p1', 'Five', { 'if-match': 'W/"1", W/"4"' })).statusCode, 200, 'a list naming the current version');
  refused(t, await put('p1', 'Six', { 'if-match': 'W/"1", "2"' }), 412, /does not match the current version \(W\/"5"\)/, 'a list not naming it');
  refused(t, await put('p1', 'Six', { 'if-match': 'W/"5' }), 400, /is not a list of ETags/, 'an unclosed ETag');
  refused(t, await put('p9', 'New', { 'if-match': '*' }), 412, /If-Match \*: there is no Patient\/p9/, 'If-Match: * when there is nothing');
  t.equal((await app.inject({ url: '/fhir/Patient/p9', headers: { authorization } })).statusCode, 404, 'and nothing was created');

  // If-None-Match: * makes a PUT create-only.
  refused(t, await put('p1', 'Overwritten', { 'if-none-match': '*' }), 412, /If-None-Match \*: Patient\/p1 exists at version 5/, 'If-None-Match: * on an existing resource');
  t.equal((await put('p2', 'Created', { 'if-none-match': '*' })).statusCode, 201, 'If-None-Match: * creates what is absent');
  refused(t, await put('p1', 'Overwritten', { 'if-none-match': 'W/"5"' }), 412, /exists at version 5/, 'If-None-Match naming the current version');
  t.equal((await put('p1', 'Six', { 'if-none-match': 'W/"4"' })).statusCode, 200, 'If-None-Match naming another version');
  refused(t, await patch('p1', { 'if-none-match': '*' }), 412, /exists at version 6/, 'If-None-Match: * on PATCH');
  refused(t, await remove('p1', { 'if-none-match': '*' }), 412, /exists at version 6/, 'If-None-Match: * on DELETE');

  // If-Unmodified-Since, in whole seconds as Last-Modified gives them.
  const read = await app.inject({ url: '/fhir/Patient/p1', headers: { authorization } });
  const lastModified = String(read.headers['last-modified']);
  refused(t, await put('p1', 'Stale', { 'if-unmodified-since': 'Wed, 25 Nov 2020 12:00:00 GMT' }), 412, /If-Unmodified-Since .*Patient\/p1 was changed after it/, 'If-Unmodified-Since before the last change');
  refused(t, await remove('p1', { 'if-unmodified-since': 'Wed, 25 Nov 2020 12:00:00 GMT' }), 412, /was changed after it/, 'the same on DELETE');
  t.equal((await put('p1', 'Seven', { 'if-unmodified-since': lastModified })).statusCode, 200, 'If-Unmodified-Since the Last-Modified read');
  t.equal((await put('p1', 'Eight', { 'if-unmodified-since': '2020-11-25T12:00:00Z' })).statusCode, 200, 'a date that is no HTTP-date is ignored');
  t.equal((await put('p1', 'Nine', { 'if-unmodified-since': 'Wed, 25 Nov 2020 12:00:00 GMT', 'if-match': 'W/"8"' })).statusCode, 200, 'If-Match decides when both are sent');
  t.equal(await version('p1'), '9');

  // A deleted resource has no current version: the 412 says so.
  t.equal((await remove('p2', {})).statusCode, 200);
  refused(t, await put('p2', 'Back', { 'if-match': 'W/"2"' }), 412, /Patient\/p2 is deleted \(its deletion is version 2\)/, 'If-Match on a deleted resource');
  refused(t, await remove('p2', { 'if-match': 'W/"2"' }), 412, /is deleted/, 'If-Match on DELETE of a deleted resource');
  t.equal((await put('p2', 'Back', { 'if-none-match': '*' })).statusCode, 201, 'If-None-Match: * re-creates a deleted resource');

  // In a transaction, ifMatch follows the same rules.
  const tx = await app.inject({
    method: 'POST', url: '/fhir', headers: json,
    payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PUT', url: 'Patient/p1', ifMatch: 'W/"3", W/"9"' }, resource: patient('p1', 'Ten') }] },
  });
  t.equal(tx.statusCode, 200, `a transaction entry's ifMatch list: ${tx.body.slice(0, 200)}`);
  t.equal(await version('p1'), '10');
});

// If-Modified-Since on a read, with a date that is no HTTP-date, is ignored (RFC 9110 §13.1.3).
t.test('If-Modified-Since reads only HTTP-dates', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  await app.inject({ method: 'PUT', url: '/fhir/Patient/d1', headers: { authorization, 'content-type': 'application/fhir+json' }, payload: { resourceType: 'Patient', id: 'd1' } });
  const later = new Date(Date.now() + 3_600_000);
  t.equal((await app.inject({ url: '/fhir/Patient/d1', headers: { authorization, 'if-modified-since': later.toUTCString() } })).statusCode, 304, 'an HTTP-date after the change: 304');
  t.equal((await app.inject({ url: '/fhir/Patient/d1', headers: { authorization, 'if-modified-since': later.toISOString() } })).statusCode, 200, 'the same date in ISO form is ignored: 200');
});
