import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// Found by an exploratory tester: in a Bundle, a condition made only of result parameters
// (`_sort`, `_summary`, `_count`...) matched every resource of its type, so a DELETE entry
// deleted the only Basic stored; over REST the same condition is a 412. And `:identifier=|`
// on a reference matched every resource.
t.test('conditions need a criterion, in a Bundle as over REST', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': 'application/fhir+json' };
  const created = await app.inject({ method: 'POST', url: '/fhir/Basic', headers, payload: { resourceType: 'Basic', code: { text: 'only one' } } });
  const id = created.json().id as string;
  const bundle = (type: string, entry: unknown) => app.inject({ method: 'POST', url: '/fhir', headers, payload: { resourceType: 'Bundle', type, entry: [entry] } });

  for (const query of ['_sort=_id', '_summary=true', '_include=Basic:subject', '_elements=code', '_total=none', '_count=1']) {
    const rest = await app.inject({ method: 'DELETE', url: `/fhir/Basic?${query}`, headers: { authorization } });
    t.equal(rest.statusCode, 412, `REST DELETE Basic?${query}`);
    const tx = await bundle('transaction', { request: { method: 'DELETE', url: `Basic?${query}` } });
    t.equal(tx.statusCode, 412, `transaction DELETE Basic?${query}: ${tx.body.slice(0, 200)}`);
    t.match(tx.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_STORE_NO_CRITERIA' }] }, expression: ['Bundle.entry[0]'] }] });
    const batch = await bundle('batch', { request: { method: 'DELETE', url: `Basic?${query}` } });
    t.match(batch.json(), { entry: [{ response: { status: /^412/ } }] }, `batch DELETE Basic?${query}`);
    const put = await bundle('transaction', { request: { method: 'PUT', url: `Basic?${query}` }, resource: { resourceType: 'Basic', code: { text: 'overwritten' } } });
    t.equal(put.statusCode, 412, `transaction PUT Basic?${query}`);
    const ifNoneExist = await bundle('transaction', { request: { method: 'POST', url: 'Basic', ifNoneExist: query }, resource: { resourceType: 'Basic', code: { text: 'new' } } });
    t.equal(ifNoneExist.statusCode, 412, `ifNoneExist ${query}`);
    const reference = await bundle('transaction', { request: { method: 'POST', url: 'Basic' }, resource: { resourceType: 'Basic', code: { text: 'ref' }, subject: { reference: `Basic?${query}` } } });
    t.equal(reference.statusCode, 412, `conditional reference Basic?${query}`);
  }
  const bare = await bundle('transaction', { request: { method: 'POST', url: 'Basic' }, resource: { resourceType: 'Basic', code: { text: 'ref' }, subject: { reference: 'Basic?' } } });
  t.equal(bare.statusCode, 412, 'a conditional reference with no criteria at all');
  const read = await app.inject({ url: `/fhir/Basic/${id}`, headers: { authorization } });
  t.match(read.json(), { code: { text: 'only one' }, meta: { versionId: '1' } }, 'the only Basic is neither deleted nor overwritten');
  const all = await app.inject({ url: '/fhir/Basic?_total=accurate', headers: { authorization } });
  t.equal(all.json().total, 1, 'and nothing was created');

  // A real criterion still works, with or without a _count of its own.
  const counted = await bundle('transaction', { request: { method: 'PUT', url: `Basic?_id=${id}&_count=5` }, resource: { resourceType: 'Basic', code: { text: 'updated' } } });
  t.equal(counted.statusCode, 200, counted.body.slice(0, 200));
  t.match(counted.json(), { entry: [{ response: { status: /^200/ } }] });

  // `_source` (meta.source) selects resources as much as `_tag` does.
  const sourced = await app.inject({ method: 'POST', url: '/fhir/Basic', headers: { ...headers, 'if-none-exist': '_source=http://ex.org/feed' }, payload: { resourceType: 'Basic', meta: { source: 'http://ex.org/feed' }, code: { text: 'from the feed' } } });
  t.equal(sourced.statusCode, 201, `If-None-Exist: _source=... is a condition: ${sourced.body.slice(0, 200)}`);
  const again = await app.inject({ method: 'POST', url: '/fhir/Basic', headers: { ...headers, 'if-none-exist': '_source=http://ex.org/feed' }, payload: { resourceType: 'Basic', meta: { source: 'http://ex.org/feed' }, code: { text: 'from the feed' } } });
  t.equal(again.statusCode, 200, 'and finds what it created');
  t.equal(again.json().id, sourced.json().id);

  const empty = await app.inject({ url: '/fhir/Observation?subject:identifier=%7C', headers: { authorization } });
  t.equal(empty.statusCode, 400, ':identifier=| names neither a system nor a value');
  t.match(empty.json(), { issue: [{ diagnostics: /Malformed identifier/ }] });
  t.equal((await app.inject({ url: '/fhir/Observation?subject:identifier=urn:sys%7C', headers: { authorization } })).statusCode, 200, 'a system alone is a criterion');
});

// Two entries with the same condition, both matching nothing, each created a resource: the same
// Patient twice, after which every If-None-Exist on it was a 412.
t.test('a transaction does not create twice what one condition names', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': 'application/fhir+json' };
  const patient = { resourceType: 'Patient', identifier: [{ system: 'http://ex.org/cc', value: 'C2' }] };
  const transaction = (entry: unknown[]) => app.inject({ method: 'POST', url: '/fhir', headers, payload: { resourceType: 'Bundle', type: 'transaction', entry } });
  const found = async () => (await app.inject({ url: '/fhir/Patient?identifier=http://ex.org/cc%7CC2&_total=accurate', headers: { authorization } })).json().total as number;
  const post = (ifNoneExist: string) => ({ request: { method: 'POST', url: 'Patient', ifNoneExist }, resource: patient });
  const put = (url: string) => ({ request: { method: 'PUT', url }, resource: patient });
  for (const [name, entries] of [
    ['two conditional creates', [post('identifier=http://ex.org/cc|C2'), post('identifier=http://ex.org/cc|C2')]],
    ['two conditional updates', [put('Patient?identifier=http://ex.org/cc|C2'), put('Patient?identifier=http://ex.org/cc|C2')]],
    ['a create and an update, parameters in another order', [post('identifier=http://ex.org/cc|C2&active:missing=true'), put('Patient?active:missing=true&identifier=http://ex.org/cc|C2')]],
  ] as const) {
    const res = await transaction([...entries]);
    t.equal(res.statusCode, 400, `${name}: ${res.body.slice(0, 200)}`);
    t.match(res.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_BUNDLE_DUPLICATE' }] }, expression: ['Bundle.entry[1]'], diagnostics: /also Bundle\.entry\[0\]/ }] });
    t.equal(await found(), 0, `${name}: nothing created`);
  }
  const once = await transaction([post('identifier=http://ex.org/cc|C2')]);
  t.equal(once.statusCode, 200, 'one such entry creates it');
  t.match(once.json(), { entry: [{ response: { status: /^201/ } }] });
  t.equal(await found(), 1);
});

// A transaction that deletes a resource and writes a reference to it left the reference dangling,
// while one naming an already deleted resource is refused.
t.test('a transaction may not reference what it deletes', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': 'application/fhir+json' };
  const id = (await app.inject({ method: 'POST', url: '/fhir/Patient', headers, payload: { resourceType: 'Patient' } })).json().id as string;
  const res = await app.inject({ method: 'POST', url: '/fhir', headers, payload: { resourceType: 'Bundle', type: 'transaction', entry: [
    { request: { method: 'DELETE', url: `Patient/${id}` } },
    { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${id}` } } },
  ] } });
  t.equal(res.statusCode, 422, res.body.slice(0, 200));
  t.match(res.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_BUNDLE_UNRESOLVED_REFERENCE' }] }, expression: ['Bundle.entry[1]'], diagnostics: /this transaction deletes/ }] });
  t.equal((await app.inject({ url: `/fhir/Patient/${id}`, headers: { authorization } })).statusCode, 200, 'nothing was deleted');
  const alone = await app.inject({ method: 'POST', url: '/fhir', headers, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: `Patient/${id}` } }] } });
  t.equal(alone.statusCode, 200, 'deleting it alone still works');
});
