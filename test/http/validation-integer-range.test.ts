import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// R4 integer is a signed 32-bit value, and positiveInt and unsignedInt share its upper
// bound (datatypes.html#integer); the JSON schema types all three as any JSON number.
const FHIR = 'application/fhir+json';
const observation = (value: Record<string, unknown>) => ({ resourceType: 'Observation', status: 'final', code: { text: 'steps' }, ...value });

t.test('integer, positiveInt and unsignedInt: whole numbers within 32 bits', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const headers = { authorization: await auth('system/*.cruds'), 'content-type': FHIR };
  const post = (type: string, payload: unknown) => app.inject({ method: 'POST', url: `/fhir/${type}`, headers, payload: JSON.stringify(payload) });

  t.test('an integer beyond 2,147,483,647: 422 naming the element', async (t) => {
    const res = await post('Observation', observation({ valueInteger: 99999999999 }));
    t.equal(res.statusCode, 422);
    t.match(res.headers['content-type'], /application\/fhir\+json/);
    t.match(res.json(), { resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'value', expression: ['Observation.valueInteger'], diagnostics: /99999999999 is not a valid integer/ }] });
  });

  t.test('the bounds themselves are accepted', async (t) => {
    t.equal((await post('Observation', observation({ valueInteger: 2147483647 }))).statusCode, 201);
    t.equal((await post('Observation', observation({ valueInteger: -2147483648 }))).statusCode, 201);
  });

  t.test('below the lower bound, fractions, and in nested and extension values', async (t) => {
    const cases: Array<[string, string, unknown, string]> = [
      ['-2147483649', 'Observation', observation({ valueInteger: -2147483649 }), 'Observation.valueInteger'],
      ['a fraction', 'Observation', observation({ valueInteger: 1.5 }), 'Observation.valueInteger'],
      ['in a component', 'Observation', observation({ component: [{ code: { text: 'c' }, valueInteger: 2147483648 }] }), 'Observation.component[0].valueInteger'],
      ['in an extension', 'Patient', { resourceType: 'Patient', extension: [{ url: 'https://example.org/n', valueInteger: 1e12 }] }, 'Patient.extension[0].valueInteger'],
      ['unsignedInt beyond the bound', 'DocumentReference', { resourceType: 'DocumentReference', status: 'current',
        content: [{ attachment: { contentType: 'text/plain', url: 'https://example.org/a', size: 4294967296 } }] }, 'DocumentReference.content[0].attachment.size'],
      ['negative unsignedInt', 'DocumentReference', { resourceType: 'DocumentReference', status: 'current',
        content: [{ attachment: { contentType: 'text/plain', url: 'https://example.org/a', size: -1 } }] }, 'DocumentReference.content[0].attachment.size'],
      ['positiveInt 0', 'Observation', observation({ effectiveTiming: { repeat: { count: 0 } } }), 'Observation.effectiveTiming.repeat.count'],
    ];
    for (const [name, type, body, at] of cases) {
      const res = await post(type, body);
      t.equal(res.statusCode, 422, name);
      t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'value', expression: [at] }] }, name);
    }
  });

  t.test('decimals are not integers: large and fractional values still pass', async (t) => {
    const res = await post('Observation', observation({ valueQuantity: { value: 99999999999.5, unit: 'mmHg' } }));
    t.equal(res.statusCode, 201);
    const ext = await post('Patient', { resourceType: 'Patient', extension: [{ url: 'https://example.org/d', valueDecimal: 1e12 }] });
    t.equal(ext.statusCode, 201);
  });
});
