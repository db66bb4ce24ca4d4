import t from 'tap';
import { validateResourceDetailed } from '../../src/fhir/validation/validate.js';

t.test('a bad primitive is named by its own type, not another type sharing its pattern', async (t) => {
  const string = validateResourceDetailed({ resourceType: 'Patient', name: [{ family: '' }] }).issues;
  t.match(string, [{ expression: ['Patient.name[0].family'], diagnostics: '"" is not a valid string (Patient.name[0].family)' }]);
  const markdown = validateResourceDetailed({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, note: [{ text: '' }] }).issues;
  t.match(markdown, [{ expression: ['Observation.note[0].text'], diagnostics: /is not a valid markdown/ }]);
});

t.test('null on a code is malformed JSON (400), like every other null', async (t) => {
  const gender = validateResourceDetailed({ resourceType: 'Patient', gender: null });
  t.equal(gender.malformed, true);
  t.match(gender.issues, [{ severity: 'error', code: 'structure', expression: ['Patient.gender'], diagnostics: 'Patient.gender must be a JSON string, not null' }]);
  t.equal(gender.issues.length, 1);
});

t.test('a number or a boolean on a code is the wrong JSON type (400), not an unknown code (422)', async (t) => {
  for (const value of [42, true]) {
    const gender = validateResourceDetailed({ resourceType: 'Patient', gender: value });
    t.equal(gender.malformed, true, `${value}: malformed`);
    t.match(gender.issues, [{ severity: 'error', code: 'structure', expression: ['Patient.gender'], diagnostics: `Patient.gender must be a JSON string, not the ${typeof value} ${value}` }]);
  }
  const unknown = validateResourceDetailed({ resourceType: 'Patient', gender: 'x' });
  t.notOk(unknown.malformed, 'an unknown code stays a broken rule');
  t.match(unknown.issues, [{ code: 'code-invalid', expression: ['Patient.gender'] }]);
});

t.test('dom-2, dom-4, dom-5 point at the contained resource at fault', async (t) => {
  const organization = (extra: Record<string, unknown>) => ({ resourceType: 'Patient', managingOrganization: { reference: '#o' },
    contained: [{ resourceType: 'Organization', id: 'o', name: 'Clinic', ...extra }] });
  const cases: Array<[string, Record<string, unknown>]> = [
    ['dom-2', { contained: [{ resourceType: 'Organization', id: 'inner', name: 'x', partOf: { reference: '#' } }] }],
    ['dom-4', { meta: { versionId: '3' } }],
    ['dom-5', { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } }],
  ];
  for (const [key, extra] of cases) {
    const { issues } = validateResourceDetailed(organization(extra));
    const rule = issues.filter((i) => i.diagnostics?.startsWith(`${key}:`));
    t.match(rule, [{ severity: 'error', code: 'invariant', expression: ['Patient.contained[0]'] }], key);
    t.equal(rule.length, 1, `${key} reported once`);
  }
  t.same(validateResourceDetailed(organization({})).issues, []);
});

t.test('every issue carries its error code, warnings included', async (t) => {
  const warning = validateResourceDetailed({ resourceType: 'Patient', meta: { profile: ['https://example.org/unknown'] } }).issues;
  t.match(warning, [{ severity: 'warning', details: { coding: [{ system: 'https://carnet.dev/fhir/CodeSystem/error-code', code: 'FHIR_ERR_VALIDATION_RULE' }] } }]);
  const malformed = validateResourceDetailed({ resourceType: 'Patient', foo: 1 }).issues;
  t.match(malformed, [{ details: { coding: [{ code: 'FHIR_ERR_VALIDATION_STRUCTURE' }] } }]);
});
