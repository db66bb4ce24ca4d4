import t from 'tap';
import type { InjectOptions } from 'fastify';
import { buildTestServer } from '../helpers/server.js';

const FHIR = 'application/fhir+json';
const patient = { resourceType: 'Patient', name: [{ family: 'Durand', given: ['Hélène'] }], gender: 'female', birthDate: '1980-02-14' };

t.test('FHIR REST interactions over inject', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': FHIR };

  t.test('create answers 201 with Location, ETag, Last-Modified and server meta', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/fhir/Patient', headers, payload: { ...patient, id: 'client-chosen' } });
    t.equal(res.statusCode, 201);
    const body = res.json();
    t.not(body.id, 'client-chosen', 'create ignores a client id');
    t.match(res.headers.location, new RegExp(`^http://carnet.test/fhir/Patient/${body.id}/_history/1$`));
    t.equal(res.headers.etag, 'W/"1"');
    t.ok(res.headers['last-modified']);
    t.equal(body.meta.versionId, '1');
    t.match(body.meta.lastUpdated, /^\d{4}-\d\d-\d\dT/);
    t.match(res.headers['content-type'], /^application\/fhir\+json/);

    const read = await app.inject({ url: `/fhir/Patient/${body.id}`, headers: { authorization } });
    t.equal(read.statusCode, 200);
    t.same(read.json(), body);
    t.equal(read.headers.etag, 'W/"1"');
  });

  t.test('update, vread, If-Match, delete, 410 and history', async (t) => {
    const created = (await app.inject({ method: 'POST', url: '/fhir/Patient', headers, payload: patient })).json();
    const id = created.id;
    const updated = await app.inject({ method: 'PUT', url: `/fhir/Patient/${id}`, headers: { ...headers, 'if-match': 'W/"1"' }, payload: { ...patient, id, gender: 'other' } });
    t.equal(updated.statusCode, 200);
    t.equal(updated.json().meta.versionId, '2');
    t.equal(updated.headers.etag, 'W/"2"');

    const stale = await app.inject({ method: 'PUT', url: `/fhir/Patient/${id}`, headers: { ...headers, 'if-match': 'W/"1"' }, payload: { ...patient, id } });
    t.equal(stale.statusCode, 412);
    t.equal(stale.json().resourceType, 'OperationOutcome');

    const v1 = await app.inject({ url: `/fhir/Patient/${id}/_history/1`, headers: { authorization } });
    t.equal(v1.statusCode, 200);
    t.equal(v1.json().gender, 'female');
    t.equal((await app.inject({ url: `/fhir/Patient/${id}/_history/9`, headers: { authorization } })).statusCode, 404);

    const del = await app.inject({ method: 'DELETE', url: `/fhir/Patient/${id}`, headers: { authorization } });
    t.equal(del.statusCode, 200);
    const gone = await app.inject({ url: `/fhir/Patient/${id}`, headers: { authorization } });
    t.equal(gone.statusCode, 410);
    t.match(gone.json(), { resourceType: 'OperationOutcome', issue: [{ code: 'deleted' }] });
    // The deletion is version 3: its ETag and Last-Modified, as for any answer about a version.
    t.equal(gone.headers.etag, 'W/"3"');
    t.match(gone.headers['last-modified'], /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    const goneVersion = await app.inject({ url: `/fhir/Patient/${id}/_history/3`, headers: { authorization } });
    t.equal(goneVersion.statusCode, 410);
    t.equal(goneVersion.headers.etag, 'W/"3"');

    const history = await app.inject({ url: `/fhir/Patient/${id}/_history`, headers: { authorization } });
    t.equal(history.statusCode, 200);
    const bundle = history.json();
    t.equal(bundle.type, 'history');
    t.same(bundle.entry.map((e: { response: { etag: string } }) => e.response.etag), ['W/"3"', 'W/"2"', 'W/"1"'], 'newest first, delete included');
    t.equal(bundle.entry[0].request.method, 'DELETE');
    t.notOk(bundle.entry[0].resource, 'a deleted version has no resource');

    const recreated = await app.inject({ method: 'PUT', url: `/fhir/Patient/${id}`, headers, payload: { ...patient, id } });
    t.equal(recreated.statusCode, 201, 'update after delete creates again');
    t.equal(recreated.json().meta.versionId, '4');
  });

  t.test('update as create with a client id', async (t) => {
    const res = await app.inject({ method: 'PUT', url: '/fhir/Patient/chosen-id.1', headers, payload: { ...patient, id: 'chosen-id.1' } });
    t.equal(res.statusCode, 201);
    t.equal(res.json().id, 'chosen-id.1');
  });

  t.test('bad input gets the right 4xx OperationOutcome and writes nothing', async (t) => {
    const cases: Array<[string, InjectOptions, number]> = [
      ['malformed JSON', { method: 'POST', url: '/fhir/Patient', headers, payload: '{"resourceType": "Patient",' }, 400],
      ['body not UTF-8', { method: 'POST', url: '/fhir/Patient', headers, payload: Buffer.from('{"resourceType":"Patient","name":[{"family":"M\xfcller"}]}', 'latin1') }, 400],
      ['resourceType differs from URL', { method: 'POST', url: '/fhir/Patient', headers, payload: { resourceType: 'Observation' } }, 400],
      ['body is not an object', { method: 'POST', url: '/fhir/Patient', headers, payload: '[1,2]' }, 400],
      ['id differs on update', { method: 'PUT', url: '/fhir/Patient/a1', headers, payload: { ...patient, id: 'b2' } }, 400],
      ['no id on update', { method: 'PUT', url: '/fhir/Patient/a1', headers, payload: patient }, 400],
      ['invalid id', { url: '/fhir/Patient/bad_id!', headers: { authorization } }, 400],
      ['broken escape in a query value', { url: '/fhir/Patient?name=%zz', headers: { authorization } }, 400],
      ['broken escape in a query name', { url: '/fhir/Patient?%zz=1', headers: { authorization } }, 400],
      ['a lone % in the query of a read', { url: '/fhir/Patient/a1?_format=json%', headers: { authorization } }, 400],
      ['an escape that is not UTF-8', { url: '/fhir/Patient/_history?_at=%FF', headers: { authorization } }, 400],
      ['id too long', { url: `/fhir/Patient/${'a'.repeat(65)}`, headers: { authorization } }, 400],
      ['unknown resource type', { url: '/fhir/Unicorn/1', headers: { authorization } }, 404],
      ['unknown id', { url: '/fhir/Patient/nope', headers: { authorization } }, 404],
      ['unreadable media type', { method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': 'text/plain' }, payload: 'hello' }, 415],
      ['a resource sent as JSON Patch', { method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': 'application/json-patch+json' }, payload: patient }, 415],
      ['a resource sent as a form', { method: 'PUT', url: '/fhir/Patient/a1', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'resourceType=Patient&id=a1' }, 415],
      ['unproducible Accept', { url: '/fhir/metadata', headers: { accept: 'application/fhir+xml' } }, 406],
      ['unproducible _format', { url: '/fhir/metadata?_format=xml' }, 406],
      ['a code sent as a number', { method: 'POST', url: '/fhir/Patient', headers, payload: { resourceType: 'Patient', gender: 42 } }, 400],
      ['an unknown code', { method: 'POST', url: '/fhir/Patient', headers, payload: { resourceType: 'Patient', gender: 'x' } }, 422],
      ['wrong method', { method: 'POST', url: '/fhir/Patient/123', headers, payload: patient }, 405],
    ];
    for (const [name, request, status] of cases) {
      const res = await app.inject(request);
      t.equal(res.statusCode, status, name);
      t.equal(res.json().resourceType, 'OperationOutcome', `${name}: OperationOutcome`);
      t.match(res.headers['content-type'], /^application\/fhir\+json/, `${name}: FHIR JSON`);
    }
    const history = await app.inject({ url: '/fhir/Patient/a1/_history', headers: { authorization } });
    t.equal(history.statusCode, 404, 'the refused updates created nothing');
  });

  t.test('a well-formed escaped query is read as sent', async (t) => {
    const res = await app.inject({ url: '/fhir/Patient?family=M%C3%BCller%2CDupont&_summary=count', headers: { authorization } });
    t.equal(res.statusCode, 200, res.body);
    t.equal(res.json().total, 0);
  });

  t.test('content negotiation accepts application/json and fhirVersion parameters', async (t) => {
    const res = await app.inject({ url: '/fhir/metadata', headers: { accept: 'application/json' } });
    t.equal(res.statusCode, 200);
    t.match(res.headers['content-type'], /^application\/json/);
    const versioned = await app.inject({ url: '/fhir/metadata', headers: { accept: 'application/fhir+json; fhirVersion=4.0' } });
    t.equal(versioned.statusCode, 200);
    const unescapedPlus = await app.inject({ url: '/fhir/metadata?_format=application/fhir+json' });
    t.equal(unescapedPlus.statusCode, 200, '_format=application/fhir+json with its + left unescaped (read as a space)');
    t.match(unescapedPlus.headers['content-type'], /^application\/fhir\+json/);
    t.equal((await app.inject({ url: '/fhir/metadata?_format=application/fhir+xml' })).statusCode, 406, 'still 406 for XML');
    const json = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': 'application/json' }, payload: patient });
    t.equal(json.statusCode, 201, 'application/json bodies are read');
  });

  t.test('Prefer return=minimal and return=OperationOutcome', async (t) => {
    const minimal = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { ...headers, prefer: 'return=minimal' }, payload: patient });
    t.equal(minimal.statusCode, 201);
    t.equal(minimal.body, '');
    t.ok(minimal.headers.location);
    const oo = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { ...headers, prefer: 'return=OperationOutcome' }, payload: patient });
    t.equal(oo.statusCode, 201);
    t.equal(oo.json().resourceType, 'OperationOutcome');
  });

  t.test('conditional create, update and delete', async (t) => {
    const marker = `cond-${Date.now()}`;
    const withId = { ...patient, identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: marker }] };
    const condition = `identifier=urn:oid:1.2.250.1.213.1.4.8|${marker}`;
    const first = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { ...headers, 'if-none-exist': condition }, payload: withId });
    t.equal(first.statusCode, 201, 'no match: created');
    const second = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { ...headers, 'if-none-exist': condition }, payload: withId });
    t.equal(second.statusCode, 200, 'one match: the existing one');
    t.equal(second.json().id, first.json().id);

    // A second resource with the same identifier makes the condition ambiguous.
    await app.inject({ method: 'PUT', url: `/fhir/Patient/dup-${marker}`, headers, payload: { ...withId, id: `dup-${marker}` } });
    const third = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { ...headers, 'if-none-exist': condition }, payload: withId });
    t.equal(third.statusCode, 412, 'several matches: 412');

    const cu = await app.inject({ method: 'PUT', url: `/fhir/Patient?_id=${first.json().id}`, headers, payload: { ...withId, gender: 'male' } });
    t.equal(cu.statusCode, 200);
    t.equal(cu.json().id, first.json().id);
    t.equal(cu.json().gender, 'male');

    const ambiguous = await app.inject({ method: 'DELETE', url: `/fhir/Patient?${condition}`, headers: { authorization } });
    t.equal(ambiguous.statusCode, 412);
    const cd = await app.inject({ method: 'DELETE', url: `/fhir/Patient?_id=dup-${marker}`, headers: { authorization } });
    t.equal(cd.statusCode, 200);
    t.equal((await app.inject({ url: `/fhir/Patient/dup-${marker}`, headers: { authorization } })).statusCode, 410);
  });

  t.test('JSON Patch', async (t) => {
    const created = (await app.inject({ method: 'POST', url: '/fhir/Patient', headers, payload: patient })).json();
    const res = await app.inject({
      method: 'PATCH', url: `/fhir/Patient/${created.id}`, headers: { authorization, 'content-type': 'application/json-patch+json' },
      payload: [{ op: 'replace', path: '/gender', value: 'unknown' }],
    });
    t.equal(res.statusCode, 200);
    t.equal(res.json().gender, 'unknown');
    t.equal(res.json().meta.versionId, '2');
    const failing = await app.inject({
      method: 'PATCH', url: `/fhir/Patient/${created.id}`, headers: { authorization, 'content-type': 'application/json-patch+json' },
      payload: [{ op: 'test', path: '/gender', value: 'female' }],
    });
    t.equal(failing.statusCode, 422);
  });
});

t.test('history of a type and of the system pages with next links', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  for (let i = 0; i < 5; i++) {
    await app.inject({ method: 'POST', url: '/fhir/Observation', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Observation', status: 'final', code: { text: `o${i}` } } });
  }
  const seen: string[] = [];
  let url: string | undefined = '/fhir/Observation/_history?_count=2';
  while (url) {
    const res = await app.inject({ url, headers: { authorization } });
    t.equal(res.statusCode, 200);
    const bundle = res.json();
    seen.push(...bundle.entry.map((e: { resource: { id: string } }) => e.resource.id));
    const next = bundle.link.find((l: { relation: string }) => l.relation === 'next')?.url as string | undefined;
    url = next?.replace('http://carnet.test', '');
  }
  t.equal(seen.length, 5);
  t.equal(new Set(seen).size, 5, 'no duplicates across pages');
  const system = await app.inject({ url: '/fhir/_history?_count=50', headers: { authorization } });
  t.equal(system.statusCode, 200);
  t.ok(system.json().entry.length >= 5);
  const since = await app.inject({ url: '/fhir/Observation/_history?_since=2999-01-01T00:00:00Z', headers: { authorization } });
  t.same(since.json().entry ?? [], []);
  const bad = await app.inject({ url: '/fhir/Observation/_history?_since=yesterday', headers: { authorization } });
  t.equal(bad.statusCode, 400);
});
