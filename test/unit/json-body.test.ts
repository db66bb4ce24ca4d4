import t from 'tap';
import { FhirError } from '../../src/errors.js';
import { checkJsonBody, parseJsonBody } from '../../src/fhir/json-body.js';
import { findInJsonSource, numberProblem } from '../../src/fhir/json-source.js';

/** The refusal checkJsonBody throws for this text (parsed here), or undefined. */
function refusal(text: string, options?: Parameters<typeof checkJsonBody>[2]): FhirError | undefined {
  try {
    checkJsonBody(text, JSON.parse(text.replace(/^\uFEFF/, '')), options);
    return undefined;
  } catch (err) {
    if (err instanceof FhirError) return err;
    throw err;
  }
}

t.test('duplicate keys are found where they are, however the text is written', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['{"resourceType":"Patient","gender":"male","gender":"female"}', '/gender', 'gender'],
    ['{"a":{"b":[1,{"c":1,"d":"}]{[,:\\"","c":2}]}}', '/a/b/1/c', 'c'],
    ['{"x":"\\\\","x":1}', '/x', 'x'],
    ['{"gen\\u0064er":"a","gender":"b"}', '/gender', 'gender'],
    ['{"a/b~c":1,"a/b~c":2}', '/a~1b~0c', 'a/b~c'],
    ['[{"ok":1},{"ok":1,"ok":2}]', '/1/ok', 'ok'],
    ['\uFEFF {\n  "a" : 1 ,\n  "a" : 2\n}', '/a', 'a'],
    // The first in text order, here inside a value that is itself written twice.
    ['{"a":{"b":1,"b":2},"a":3}', '/a/b', 'b'],
  ];
  for (const [text, pointer, key] of cases) {
    t.same(findInJsonSource(text, { duplicateKeys: true, numbers: false }), { kind: 'duplicate-key', pointer, key }, text);
    t.match(refusal(text), { statusCode: 400, code: 'FHIR_ERR_HTTP_MALFORMED', message: new RegExp(`"${key.replace(/[~/]/g, '.')}" appears twice`) }, text);
  }
  for (const text of ['{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}', '{"a:b":"c:d","e":"f\\u003ag","h":"\\"i\\":"}', '"x:y"', '[]', '{}', '3', 'null']) {
    t.equal(findInJsonSource(text, { duplicateKeys: true, numbers: false }), undefined, text);
    t.equal(refusal(text), undefined, text);
  }
});

t.test('the quick count sends the rare ordinary body to the text, never a duplicate past it', async (t) => {
  // A colon in a key, an escaped colon: counts disagree without a duplicate; nothing is refused.
  t.equal(refusal('{"urn:x":1,"y":"\\u003a"}'), undefined);
  // An escaped colon in a kept string would hide a dropped member from the count: still found.
  t.match(refusal('{"a":"\\u003a","b":1,"b":2}'), { code: 'FHIR_ERR_HTTP_MALFORMED', message: /"b" appears twice/ });
  t.match(refusal('{"a":"\\u003A","b":"p:q","b":2}'), { message: /"b" appears twice/ });
  // Other \u003_ escapes (Gson writes `<` as \u003c) change no count.
  t.equal(refusal('{"div":"\\u003cdiv\\u003e:\\u003c/div\\u003e"}'), undefined);
  t.match(refusal('{"div":"\\u003cdiv\\u003e","b":1,"b":2}'), { message: /"b" appears twice/ });
});

t.test('numbers JSON.parse would change are refused; decimals past a double\'s precision are not', async (t) => {
  for (const literal of ['1e-400', '-1E-400', '0.' + '0'.repeat(400) + '1', '2e-324']) t.equal(numberProblem(literal), 'underflow', literal);
  for (const literal of ['9007199254740992', '9007199254740993', '-9007199254740993', '1' + '0'.repeat(30)]) t.equal(numberProblem(literal), 'unsafe-integer', literal);
  for (const literal of ['0', '-0', '0.0e-999', '0e5', '5e-324', '9007199254740991', '-9007199254740991', '1e20', '9007199254740993.5',
    '0.1234567890123456789', '1.50', '123456789012345678901234567890.1', '1e308']) t.equal(numberProblem(literal), undefined, literal);

  t.same(findInJsonSource('{"a":[1,2,{"b":-3e-999}]}', { duplicateKeys: false, numbers: true }), { kind: 'number', pointer: '/a/2/b', literal: '-3e-999', problem: 'underflow' });
  const observation = (value: string) => `{"resourceType":"Observation","valueQuantity":{"value":${value}},"component":[{"valueInteger":0}]}`;
  t.match(refusal(observation('1e-400')), { statusCode: 400, code: 'FHIR_ERR_VALIDATION_STRUCTURE',
    issues: [{ code: 'value', expression: ['Observation.valueQuantity.value'], diagnostics: /^The number 1e-400 at Observation\.valueQuantity\.value .*stored as 0/ }] });
  t.match(refusal(observation('9007199254740993')), { issues: [{ diagnostics: /9007199254740993 .*stored as 9007199254740992/ }] });
  t.match(refusal(observation('9007199254740992')), { issues: [{ diagnostics: /2\^53 - 1\), past which/ }] });
  t.notMatch(refusal(observation('9007199254740992'))?.message, /stored as/, 'kept as written: no "stored as" to show');
  const long = '1' + '0'.repeat(60);
  t.match(refusal(observation(long)), { issues: [{ diagnostics: /^The number 1000000000000000000000000000000000000\.\.\. at / }] }, 'a long literal is cut');
  // Infinity keeps its own words (json-refusals.ts).
  t.match(refusal(observation('1e400')), { issues: [{ diagnostics: /out of range/ }] });
  for (const value of ['0', '0.0', '-0', '0e-5', '1e-300', '70', '0.1234567890123456789', '1e20', '9007199254740991']) {
    t.equal(refusal(observation(value)), undefined, value);
  }
  // Outside a resource: a JSON pointer and the subject.
  t.match(refusal('[{"op":"add","path":"/x","value":1e-400}]', { subject: 'the JSON Patch' }),
    { issues: [{ diagnostics: /at JSON pointer \/0\/value of the JSON Patch/ }] });
});

t.test('parseJsonBody refuses what the content-type parser refuses', async (t) => {
  t.same(parseJsonBody(Buffer.from('\uFEFF{"resourceType":"Binary","contentType":"text/plain"}')), { resourceType: 'Binary', contentType: 'text/plain' });
  const refused = (body: Buffer | string): FhirError | undefined => {
    try {
      parseJsonBody(body);
      return undefined;
    } catch (err) {
      return err as FhirError;
    }
  };
  t.match(refused(Buffer.from([0x7b, 0xff, 0x7d])), { statusCode: 400, code: 'FHIR_ERR_HTTP_MALFORMED', message: 'The request body is not valid UTF-8' });
  t.match(refused(''), { message: 'The request body is empty' });
  t.match(refused('{"a":'), { message: 'The request body is not valid JSON' });
  t.match(refused('{"resourceType":"Binary","__proto__":{"x":1}}'), { code: 'FHIR_ERR_HTTP_MALFORMED', message: /"__proto__" key \(at Binary\.__proto__\)/ });
  t.match(refused('{"a":{"constructor":{"prototype":{}}}}'), { message: /"constructor" key holding a "prototype" key/ });
  t.equal(refused('{"constructor":"a name"}'), undefined, 'a constructor key without prototype is only a key');
  t.match(refused('{"resourceType":"Binary","data":"AA==","data":"AQ=="}'), { message: /"data" appears twice in the same object \(at Binary\.data\)/ });
  t.match(refused('['.repeat(200) + ']'.repeat(200)), { statusCode: 400, message: /more than 128 levels deep/ });
  t.match(refused('{"resourceType":"Binary","size":9007199254740993}'), { code: 'FHIR_ERR_VALIDATION_STRUCTURE' });
});
