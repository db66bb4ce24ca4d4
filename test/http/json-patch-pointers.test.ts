import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

/**
 * Found by an exploratory tester: JSON Patch paths were read as JavaScript,
 * not as JSON (RFC 6901 §4). `replace /name/foo` set a property on the array
 * that JSON drops, so the PATCH answered 200 and changed nothing (or applied
 * the operations after it); `test /name/length` passed. Every location an
 * operation needs must exist in the JSON document, arrays addressed by
 * decimal indices only, and a patch with one bad operation changes nothing.
 */
t.test('JSON Patch locations are JSON locations', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const created = await app.inject({
    method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': 'application/fhir+json' },
    payload: { resourceType: 'Patient', name: [{ family: 'Martin', given: ['Léa'] }], gender: 'female' },
  });
  const id = created.json().id as string;
  const patch = (operations: unknown[]) => app.inject({
    method: 'PATCH', url: `/fhir/Patient/${id}`, headers: { authorization, 'content-type': 'application/json-patch+json' }, payload: JSON.stringify(operations),
  });
  const current = async () => (await app.inject({ url: `/fhir/Patient/${id}`, headers: { authorization } })).json();

  const refusals: Array<[string, unknown[], RegExp]> = [
    ['replace at a name that is no array index', [{ op: 'replace', path: '/name/foo', value: { family: 'Z' } }], /replace \/name\/foo\) failed: no such location/],
    ['a bad first operation, then a good one', [{ op: 'replace', path: '/name/0/given/foo', value: 'q' }, { op: 'replace', path: '/gender', value: 'other' }], /operation 0/],
    ['test of an array\'s length', [{ op: 'test', path: '/name/length', value: 1 }], /test \/name\/length\) failed: no such location/],
    ['test with a leading zero index', [{ op: 'test', path: '/name/00', value: { family: 'Martin', given: ['Léa'] } }], /no such location/],
    ['test of an inherited member', [{ op: 'test', path: '/name/0/constructor', value: {} }], /no such location/],
    ['add past the end of an array', [{ op: 'add', path: '/name/5', value: { family: 'Z' } }], /"5" is no position in that array \(0 to 1, or -\)/],
    ['add at a name that is no array index', [{ op: 'add', path: '/name/first', value: { family: 'Z' } }], /"first" is no position in that array/],
    ['add under a member that does not exist', [{ op: 'add', path: '/contact/0/name', value: { family: 'Z' } }], /the element it adds to does not exist/],
    ['add under __proto__', [{ op: 'add', path: '/__proto__/active', value: true }], /the element it adds to does not exist/],
    ['remove what is absent', [{ op: 'remove', path: '/birthDate' }], /remove \/birthDate\) failed: no such location/],
    ['move from what is absent', [{ op: 'move', from: '/address', path: '/name/-' }], /\/address \(from\) does not exist/],
    ['copy from an array\'s length', [{ op: 'copy', from: '/name/length', path: '/birthDate' }], /\/name\/length \(from\) does not exist/],
    ['a test that fails', [{ op: 'test', path: '/gender', value: 'male' }], /test \/gender\) failed: the value there is not the one tested/],
  ];
  for (const [name, operations, diagnostics] of refusals) {
    const res = await patch(operations);
    t.equal(res.statusCode, 422, `${name}: 422`);
    t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ code: 'processing', details: { coding: [{ code: 'FHIR_ERR_REST_PATCH_FAILED' }] }, diagnostics }] }, name);
    t.notMatch(res.body, /TestError|MissingError|InvalidOperationError/, `${name}: no library class names`);
  }
  t.match(await current(), { meta: { versionId: '1' }, gender: 'female', name: [{ family: 'Martin', given: ['Léa'] }] }, 'nothing was written');

  // What RFC 6902 allows still applies: appending at the length or at -, a test of what is there, the whole array.
  const applied = await patch([
    { op: 'test', path: '/name/0/given/0', value: 'Léa' },
    { op: 'add', path: '/name/1', value: { family: 'Dupont' } },
    { op: 'add', path: '/name/-', value: { family: 'Durand' } },
    { op: 'add', path: '/name/0/given/0', value: 'Marie' },
    { op: 'copy', from: '/name/2', path: '/name/3' },
    { op: 'remove', path: '/name/3' },
    { op: 'add', path: '/birthDate', value: '2001-02-03' },
  ]);
  t.equal(applied.statusCode, 200, applied.body.slice(0, 300));
  t.match(applied.json(), { meta: { versionId: '2' }, birthDate: '2001-02-03', name: [{ family: 'Martin', given: ['Marie', 'Léa'] }, { family: 'Dupont' }, { family: 'Durand' }] });
  t.equal(applied.json().name.length, 3);
});
