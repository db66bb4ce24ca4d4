import t from 'tap';
import { assertValid, validateResource, validateResourceDetailed } from '../../src/fhir/validation/validate.js';
import { ValidationError } from '../../src/errors.js';
import { heartRate } from '../fixtures/heart-rate.js';

function statusOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof ValidationError ? e.statusCode : -1;
  }
  return undefined;
}


t.test('a valid Observation has no issue', async (t) => {
  t.same(validateResource(heartRate), []);
  t.same(assertValid(heartRate), []);
});

t.test('not an object, or no known resourceType, is malformed (400)', async (t) => {
  for (const body of [null, [], 'x', 3, {}, { resourceType: 'Nope' }]) {
    const r = validateResourceDetailed(body);
    t.equal(r.malformed, true, JSON.stringify(body));
    t.equal(r.issues[0]?.severity, 'error');
  }
  t.equal(statusOf(() => assertValid({ resourceType: 'Nope' })), 400);
});

t.test('unknown element and wrong JSON type are malformed, with their FHIRPath', async (t) => {
  const r = validateResourceDetailed({ ...heartRate, foo: 1, valueQuantity: { value: '72' } });
  t.equal(r.malformed, true);
  t.match(r.issues, [
    { code: 'structure', expression: ['Observation.foo'], diagnostics: /Unknown element 'foo'/ },
    { code: 'structure', expression: ['Observation.valueQuantity.value'], diagnostics: /must be a JSON number/ },
  ]);
});

t.test('a bad code or format breaks a rule (422)', async (t) => {
  const r = validateResourceDetailed({ ...heartRate, status: 'done', effectiveDateTime: '2024-03-01T10:00' });
  t.equal(r.malformed, false);
  t.match(r.issues, [
    { code: 'code-invalid', expression: ['Observation.status'] },
    { code: 'value', expression: ['Observation.effectiveDateTime'], diagnostics: /not a valid dateTime/ },
  ]);
  t.equal(statusOf(() => assertValid({ ...heartRate, status: 'done' })), 422);
});

t.test('array positions appear in the location', async (t) => {
  const issues = validateResource({ resourceType: 'Patient', name: [{ given: ['Ann', 'Marie '] }], birthDate: '2024-02-30x' });
  t.match(issues, [{ expression: ['Patient.birthDate'] }]);
  const issues2 = validateResource({ resourceType: 'Patient', name: [{ family: 'A' }, { given: ['Ann', 7] }] });
  t.match(issues2, [{ expression: ['Patient.name[1].given[1]'], code: 'structure' }]);
});

t.test('delete mode checks no content', async (t) => {
  t.same(validateResource({ resourceType: 'Observation' }, { mode: 'delete' }), []);
});
