import t from 'tap';
import { isBase64Binary } from '../../src/fhir/validation/base64.js';
import { validateResourceDetailed } from '../../src/fhir/validation/validate.js';

t.test('base64Binary outside Binary: 422 naming the element', async (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ resourceType: 'Patient', photo: [{ contentType: 'image/png', data: '@@@@' }] }, 'Patient.photo[0].data'],
    [{ resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { contentType: 'text/plain', data: 'not base64!!' } }] },
      'DocumentReference.content[0].attachment.data'],
    [{ resourceType: 'Patient', photo: [{ contentType: 'text/plain', data: 'abc' }] }, 'Patient.photo[0].data'],
  ];
  for (const [resource, at] of cases) {
    const { malformed, issues } = validateResourceDetailed(resource);
    t.equal(malformed, false);
    t.match(issues, [{ severity: 'error', code: 'value', expression: [at], diagnostics: /is not a valid base64Binary/ }], at);
  }
  const ok = validateResourceDetailed({ resourceType: 'Patient', photo: [{ contentType: 'text/plain', data: 'aGVs bG8=\n' }] });
  t.same(ok.issues, [], 'whitespace is allowed, as R4 says');
});

t.test('isBase64Binary: R4 regex with "/" (an R4 erratum), padding only at the end', async (t) => {
  for (const good of ['aGVsbG8=', 'aGk/', 'YQ==', 'QUJD\r\nREVG', ' AAAA ']) t.ok(isBase64Binary(good), good);
  for (const bad of ['', 'abc', '@@@@', 'a=bc', 'YQ===', 'YQ==YQ==', 'aGVsbG8', 'aGVsbG8*']) t.notOk(isBase64Binary(bad), JSON.stringify(bad));
});
