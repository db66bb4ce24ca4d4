import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// What JSON.parse or a lenient reading would silently change is refused, with a status and words
// that name what was refused: a key written twice, a number that cannot be kept, a charset or a
// FHIR version we do not read (Content-Type) or produce (Accept, _format).
const FHIR = 'application/fhir+json';
const ERROR_CODES = 'https://carnet.dev/fhir/CodeSystem/error-code';

t.test('body strictness', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth('system/*.cruds');
  const send = (method: 'POST' | 'PUT' | 'PATCH', url: string, text: string, type = FHIR, extra: Record<string, string> = {}) =>
    app.inject({ method, url, headers: { authorization, 'content-type': type, ...extra }, payload: text });
  const observation = (value: string, tag = 'strict') =>
    `{"resourceType":"Observation","status":"final","code":{"text":"${tag}"},"valueQuantity":{"value":${value},"unit":"kg"}}`;
  const stored = async (query: string) => {
    const res = await app.inject({ url: `/fhir/${query}`, headers: { authorization } });
    return (res.json().entry ?? []).length as number;
  };

  t.test('a key written twice in one object: 400 naming the key and where it is', async (t) => {
    const res = await send('POST', '/fhir/Patient', '{"resourceType":"Patient","identifier":[{"value":"dup-1"}],"gender":"male","gender":"female"}');
    t.equal(res.statusCode, 400);
    const issue = res.json().issue[0];
    t.match(issue, { severity: 'error', code: 'invalid', expression: ['Patient.gender'],
      details: { coding: [{ system: ERROR_CODES, code: 'FHIR_ERR_HTTP_MALFORMED' }] } });
    t.match(issue.diagnostics, /"gender" appears twice/);
    t.match(issue.diagnostics, /Patient\.gender/);
    t.equal(await stored('Patient?identifier=dup-1'), 0, 'nothing stored');

    // Deeper, in an update, written with an escape, and three times.
    const nested = await send('POST', '/fhir/Patient', '{"resourceType":"Patient","name":[{"family":"A","given":["B"],"given":["C"]}]}');
    t.equal(nested.statusCode, 400);
    t.match(nested.json(), { issue: [{ expression: ['Patient.name[0].given'], diagnostics: /"given" appears twice/ }] });
    const created = await send('POST', '/fhir/Patient', '{"resourceType":"Patient","gender":"male"}');
    t.equal(created.statusCode, 201);
    const id = created.json().id as string;
    const update = await send('PUT', `/fhir/Patient/${id}`, `{"resourceType":"Patient","id":"${id}","gen\\u0064er":"male","gender":"female"}`);
    t.equal(update.statusCode, 400);
    t.match(update.json(), { issue: [{ expression: ['Patient.gender'], diagnostics: /"gender" appears twice/ }] });
    // An escaped colon elsewhere cannot hide the duplicate from the quick count.
    const escapedColon = await send('POST', '/fhir/Patient', '{"resourceType":"Patient","name":[{"text":"a\\u003ab"}],"gender":"male","gender":"female"}');
    t.equal(escapedColon.statusCode, 400);
    t.match(escapedColon.json(), { issue: [{ expression: ['Patient.gender'] }] });
    const read = await app.inject({ url: `/fhir/Patient/${id}`, headers: { authorization } });
    t.match(read.json(), { gender: 'male', meta: { versionId: '1' } }, 'the refused update changed nothing');

    // In a transaction entry, and in a JSON Patch.
    const bundle = await send('POST', '/fhir', '{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},'
      + '"resource":{"resourceType":"Patient","identifier":[{"value":"dup-2"}],"active":true,"active":false}}]}');
    t.equal(bundle.statusCode, 400);
    t.match(bundle.json(), { issue: [{ expression: ['Bundle.entry[0].resource.active'], diagnostics: /"active" appears twice/ }] });
    t.equal(await stored('Patient?identifier=dup-2'), 0, 'nothing stored');
    const patch = await send('PATCH', `/fhir/Patient/${id}`, '[{"op":"replace","path":"/gender","value":"female","value":"other"}]', 'application/json-patch+json');
    t.equal(patch.statusCode, 400);
    t.match(patch.json(), { issue: [{ diagnostics: /"value" appears twice.*JSON pointer \/0\/value/, details: { coding: [{ code: 'FHIR_ERR_HTTP_MALFORMED' }] } }] });

    // A Binary sent as FHIR JSON (its route reads its own body), and a JSON Patch carried by a Bundle entry.
    const binary = await send('POST', '/fhir/Binary', '{"resourceType":"Binary","contentType":"text/plain","contentType":"application/pdf","data":"aGVsbG8="}');
    t.equal(binary.statusCode, 400);
    t.match(binary.json(), { issue: [{ expression: ['Binary.contentType'], diagnostics: /"contentType" appears twice/ }] });
    const binaryPut = await send('PUT', '/fhir/Binary/strict-bin', '{"resourceType":"Binary","id":"strict-bin","contentType":"text/plain","data":"aGVsbG8="}', `${FHIR}; charset=iso-8859-1`);
    t.equal(binaryPut.statusCode, 415, 'a Binary as FHIR JSON in another charset');
    t.equal((await app.inject({ url: '/fhir/Binary/strict-bin', headers: { authorization } })).statusCode, 404, 'nothing stored');
    const carried = Buffer.from('[{"op":"replace","path":"/gender","value":"female","value":"other"}]').toString('base64');
    const bundlePatch = await send('POST', '/fhir', JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{
      request: { method: 'PATCH', url: `Patient/${id}` }, resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: carried } }] }));
    t.equal(bundlePatch.statusCode, 400, bundlePatch.body.slice(0, 300));
    t.match(bundlePatch.json(), { issue: [{ expression: ["Bundle.entry[0]"], diagnostics: /"value" appears twice.*of the JSON Patch/ }] });
    const unchanged = await app.inject({ url: `/fhir/Patient/${id}`, headers: { authorization } });
    t.match(unchanged.json(), { gender: 'male', meta: { versionId: '1' } }, 'the refused Bundle PATCH changed nothing');

    // The same key in two objects, colons and escapes in strings: ordinary bodies.
    const ordinary = await send('POST', '/fhir/Patient', JSON.stringify({
      resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: 'ok:1' }, { system: 'http://example.org/ids', value: 'ok\u003a2' }],
      name: [{ family: 'Dupont', given: ['Jean'] }, { family: 'Durand', given: ['Jeanne'] }], birthDate: '1970-01-01',
    }).replace('ok:2', 'ok\\u003a2'));
    t.equal(ordinary.statusCode, 201, ordinary.body);
    t.match(ordinary.json(), { identifier: [{ value: 'ok:1' }, { value: 'ok:2' }] });
    const pretty = await send('POST', '/fhir/Patient', JSON.stringify({ resourceType: 'Patient', gender: 'other', telecom: [{ system: 'url', value: 'https://x.example:8443/a' }] }, null, 2).replace(/": /g, '" : '));
    t.equal(pretty.statusCode, 201, 'pretty-printed, with spaces around colons');
  });

  t.test('a number that would not be kept: 400 naming it and the element, never stored changed', async (t) => {
    for (const [literal, said] of [['1e-400', /stored as 0/], ['-2.5E-999', /stored as 0/], ['9007199254740993', /stored as 9007199254740992/],
      ['-9007199254740993', /stored as -9007199254740992/], ['123456789012345678901234567890', /2\^53/]] as const) {
      const res = await send('POST', '/fhir/Observation', observation(literal, 'unkept'));
      t.equal(res.statusCode, 400, literal);
      const issue = res.json().issue[0];
      t.match(issue, { severity: 'error', code: 'value', expression: ['Observation.valueQuantity.value'],
        details: { coding: [{ system: ERROR_CODES, code: 'FHIR_ERR_VALIDATION_STRUCTURE' }] } }, literal);
      t.match(issue.diagnostics, `The number ${literal.slice(0, 20)}`, literal);
      t.match(issue.diagnostics, said, literal);
    }
    t.equal(await stored('Observation?code:text=unkept'), 0, 'nothing stored');

    // In a transaction entry and in a JSON Patch.
    const bundle = await send('POST', '/fhir', `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Observation"},"resource":${observation('1e-400', 'unkept')}}]}`);
    t.equal(bundle.statusCode, 400);
    t.match(bundle.json(), { issue: [{ expression: ['Bundle.entry[0].resource.valueQuantity.value'], diagnostics: /1e-400/ }] });
    const created = await send('POST', '/fhir/Observation', observation('70', 'kept'));
    t.equal(created.statusCode, 201);
    const id = created.json().id as string;
    const patch = await send('PATCH', `/fhir/Observation/${id}`, '[{"op":"replace","path":"/valueQuantity/value","value":9007199254740993}]', 'application/json-patch+json');
    t.equal(patch.statusCode, 400);
    t.match(patch.json(), { issue: [{ diagnostics: /9007199254740993 at JSON pointer \/0\/value of the request body/ }] });

    // Not refused: digits past a double's precision (every JSON server loses them), trailing zeros,
    // zeros, tiny and huge numbers a double holds, the largest safe integer.
    for (const [literal, kept] of [['0.1234567890123456789', 0.12345678901234568], ['1.50', 1.5], ['0', 0], ['-0.0', 0], ['0e-5', 0],
      ['1e-300', 1e-300], ['5e-324', 5e-324], ['1e20', 1e20], ['9007199254740991', 9007199254740991], ['12345678901234567890.5', 12345678901234567000]] as const) {
      const res = await send('POST', '/fhir/Observation', observation(literal, 'kept'));
      t.equal(res.statusCode, 201, `${literal}: ${res.body}`);
      t.equal(res.json().valueQuantity?.value, kept, literal);
    }
  });

  t.test('Content-Type: a charset other than UTF-8 or a FHIR version other than R4 is a 415 naming it', async (t) => {
    const patient = '{"resourceType":"Patient","identifier":[{"value":"ct-1"}]}';
    for (const [type, said] of [[`${FHIR}; charset=iso-8859-1`, /charset=iso-8859-1/], ['application/json;charset=UTF-16', /charset=UTF-16/],
      [`${FHIR}; fhirVersion=3.0`, /fhirVersion=3\.0/], [`${FHIR}; charset=utf-8; fhirVersion="5.0"`, /fhirVersion=5\.0/]] as const) {
      const res = await send('POST', '/fhir/Patient', patient, type);
      t.equal(res.statusCode, 415, type);
      t.match(res.json(), { issue: [{ severity: 'error', code: 'not-supported', diagnostics: said,
        details: { coding: [{ system: ERROR_CODES, code: 'FHIR_ERR_HTTP_MEDIA_TYPE' }] } }] }, type);
    }
    t.equal(await stored('Patient?identifier=ct-1'), 0, 'nothing stored');
    const created = await send('POST', '/fhir/Patient', '{"resourceType":"Patient"}');
    const id = created.json().id as string;
    const patch = await send('PATCH', `/fhir/Patient/${id}`, '[{"op":"add","path":"/active","value":true}]', 'application/json-patch+json; charset=latin1');
    t.equal(patch.statusCode, 415);
    t.match(patch.json(), { issue: [{ diagnostics: /charset=latin1/ }] });
    for (const type of [`${FHIR}; charset=utf-8`, `${FHIR};charset=UTF-8`, `${FHIR}; charset=utf8`, `${FHIR}; charset="utf-8"`, `${FHIR}; fhirVersion=4.0`,
      `${FHIR}; fhirVersion=4.0.1`, `${FHIR}; charset=utf-8; fhirVersion=4.0.0`, 'application/json; charset=utf-8']) {
      t.equal((await send('POST', '/fhir/Patient', '{"resourceType":"Patient"}', type)).statusCode, 201, type);
    }
  });

  t.test('Accept and _format: a FHIR version other than R4 is a 406 naming it, when nothing else fits', async (t) => {
    const created = await send('POST', '/fhir/Patient', '{"resourceType":"Patient"}');
    const path = `/fhir/Patient/${created.json().id as string}`;
    const read = (accept: string, url = path) => app.inject({ url, headers: { authorization, accept } });
    for (let round = 0; round < 2; round++) { // the second round answers from the negotiation cache
      for (const accept of [`${FHIR}; fhirVersion=3.0`, `${FHIR};fhirVersion=5.0, application/json; fhirVersion=3.0`]) {
        const res = await read(accept);
        t.equal(res.statusCode, 406, accept);
        t.match(res.json(), { issue: [{ severity: 'error', code: 'not-supported', diagnostics: /FHIR version (3\.0|5\.0, 3\.0)\b.*R4/,
          details: { coding: [{ system: ERROR_CODES, code: 'FHIR_ERR_HTTP_NOT_ACCEPTABLE' }] } }] }, accept);
      }
      t.equal((await read(`${FHIR}; fhirVersion=4.0`)).statusCode, 200);
      t.equal((await read(`${FHIR}; fhirVersion=4.0.1`)).statusCode, 200);
      t.equal((await read(`${FHIR}; fhirVersion=3.0, ${FHIR}; fhirVersion=4.0`)).statusCode, 200, 'only the ranges we can satisfy matter');
      const json = await read(`${FHIR}; fhirVersion=3.0, application/json;q=0.5`);
      t.equal(json.statusCode, 200);
      t.match(json.headers['content-type'], /^application\/json;/);
      const html = await read('text/html');
      t.equal(html.statusCode, 406);
      t.notMatch(html.json().issue[0].diagnostics, /version/, 'another media type is not a version matter');
    }
    const format = await read('', `${path}?_format=${encodeURIComponent(`${FHIR};fhirVersion=3.0`)}`);
    t.equal(format.statusCode, 406);
    t.match(format.json(), { issue: [{ diagnostics: /_format .* FHIR version 3\.0/ }] });
    t.equal((await read('', `${path}?_format=${encodeURIComponent(`${FHIR};fhirVersion=4.0`)}`)).statusCode, 200);
    // A write asking for an answer in another version is refused before anything is written.
    const write = await send('POST', '/fhir/Patient', '{"resourceType":"Patient","identifier":[{"value":"acc-1"}]}', FHIR, { accept: `${FHIR}; fhirVersion=3.0` });
    t.equal(write.statusCode, 406);
    t.equal(await stored('Patient?identifier=acc-1'), 0, 'nothing stored');
  });
});
