import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// A refused body is refused with words that tell the truth: a `__proto__` key is valid JSON that this
// server refuses on purpose, and a number too large for a double is out of range, not null.
const FHIR = 'application/fhir+json';
const ERROR_CODES = 'https://carnet.dev/fhir/CodeSystem/error-code';

for (const writeWorkers of [0, 1]) {
  t.test(`refused bodies (write workers: ${writeWorkers})`, async (t) => {
    const { app, auth } = await buildTestServer(t, { config: { writeWorkers } });
    const authorization = await auth('system/*.cruds');
    const send = (method: 'POST' | 'PUT' | 'PATCH', url: string, text: string, type = FHIR) =>
      app.inject({ method, url, headers: { authorization, 'content-type': type }, payload: text });
    const observation = (value: string) => `{"resourceType":"Observation","status":"final","code":{"text":"weight"},"valueQuantity":{"value":${value},"unit":"kg"}}`;

    t.test('a __proto__ key: 400 saying so, not "not valid JSON" (which stays for what is not JSON)', async (t) => {
      for (const text of ['{"resourceType":"Patient","__proto__":{"x":1}}', '{"resourceType":"Patient","name":[{"family":"A","__proto__":{"x":1}}]}']) {
        const res = await send('POST', '/fhir/Patient', text);
        t.equal(res.statusCode, 400);
        const issue = res.json().issue[0];
        t.match(issue, { severity: 'error', code: 'invalid', details: { coding: [{ system: ERROR_CODES, code: 'FHIR_ERR_HTTP_MALFORMED' }] } });
        t.match(issue.diagnostics, /"__proto__" key/);
        t.match(issue.diagnostics, /refuses/);
        t.notMatch(issue.diagnostics, /not valid JSON/);
      }
      // Where it is, when it is in a resource.
      const nested = await send('POST', '/fhir/Patient', '{"resourceType":"Patient","name":[{"family":"A","__proto__":{"x":1}}]}');
      t.match(nested.json(), { issue: [{ expression: ['Patient.name[0].__proto__'], diagnostics: /at Patient\.name\[0\]\.__proto__/ }] });
      // What is not JSON is still called so; a "__proto__" string value is just a string.
      const broken = await send('POST', '/fhir/Patient', '{"resourceType":"Patient",');
      t.equal(broken.statusCode, 400);
      t.match(broken.json(), { issue: [{ diagnostics: 'The request body is not valid JSON', details: { coding: [{ code: 'FHIR_ERR_HTTP_MALFORMED' }] } }] });
      const brokenWithProto = await send('POST', '/fhir/Patient', '{"__proto__":{"x":1},');
      t.match(brokenWithProto.json(), { issue: [{ diagnostics: 'The request body is not valid JSON' }] });
      const stringValue = await send('POST', '/fhir/Patient', '{"resourceType":"Patient","name":[{"family":"__proto__"}]}');
      t.equal(stringValue.statusCode, 201);
    });

    t.test('a constructor.prototype key: 400 saying so', async (t) => {
      const res = await send('POST', '/fhir/Patient', '{"resourceType":"Patient","constructor":{"prototype":{"x":1}}}');
      t.equal(res.statusCode, 400);
      t.match(res.json(), { issue: [{ code: 'invalid', diagnostics: /"constructor" key holding a "prototype" key/, details: { coding: [{ code: 'FHIR_ERR_HTTP_MALFORMED' }] } }] });
    });

    t.test('a number out of a double\'s range: 400 out of range, never stored as null', async (t) => {
      for (const value of ['1e400', '-1e400', '1' + '0'.repeat(400)]) {
        const res = await send('POST', '/fhir/Observation', observation(value));
        t.equal(res.statusCode, 400, value);
        t.match(res.json(), { issue: [{ severity: 'error', expression: ['Observation.valueQuantity.value'],
          details: { coding: [{ system: ERROR_CODES, code: 'FHIR_ERR_VALIDATION_STRUCTURE' }] } }] }, value);
        const diagnostics = res.json().issue[0].diagnostics as string;
        t.match(diagnostics, /out of range/, value);
        t.match(diagnostics, /finite/, value);
        t.notMatch(diagnostics, /null/, value);
      }
      const search = await app.inject({ url: '/fhir/Observation?code:text=weight', headers: { authorization } });
      t.equal(search.json().total ?? search.json().entry?.length ?? 0, 0, 'nothing stored');
      // The largest double and tiny numbers are fine.
      t.equal((await send('POST', '/fhir/Observation', observation('1.7976931348623157e308'))).statusCode, 201);
    });

    t.test('the same in a transaction entry and in a JSON Patch', async (t) => {
      const bundle = `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Observation"},"resource":${observation('1e400')}}]}`;
      const inBundle = await send('POST', '/fhir', bundle);
      t.equal(inBundle.statusCode, 400);
      t.match(inBundle.json(), { issue: [{ expression: ['Bundle.entry[0].resource.valueQuantity.value'], diagnostics: /out of range/ }] });
      const created = await send('POST', '/fhir/Observation', observation('70'));
      t.equal(created.statusCode, 201);
      const id = created.json().id as string;
      const patch = await send('PATCH', `/fhir/Observation/${id}`, '[{"op":"replace","path":"/valueQuantity/value","value":1e400}]', 'application/json-patch+json');
      t.equal(patch.statusCode, 400);
      t.match(patch.json(), { issue: [{ diagnostics: /out of range/ }] });
      // A Bundle's PATCH entry carries its patch base64-encoded in a Binary: it never went through the body parser.
      const data = Buffer.from('[{"op":"replace","path":"/valueQuantity/value","value":1e400}]').toString('base64');
      const patchEntry = await send('POST', '/fhir', JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{
        request: { method: 'PATCH', url: `Observation/${id}` }, resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data } }] }));
      t.equal(patchEntry.statusCode, 400);
      t.match(patchEntry.json(), { issue: [{ diagnostics: /out of range/ }] });
      const read = await app.inject({ url: `/fhir/Observation/${id}`, headers: { authorization } });
      t.match(read.json(), { meta: { versionId: '1' }, valueQuantity: { value: 70 } });
    });
  });
}
