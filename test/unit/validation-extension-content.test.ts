import t from 'tap';
import { validateResourceDetailed } from '../../src/fhir/validation/validate.js';

// ext-1 is `extension.exists() != value.exists()`: a value or sub-extensions, never both, never neither.
const URL = 'https://example.org/fhir/StructureDefinition/note';

t.test('an extension with neither a value nor extensions: 422 naming the extension', async (t) => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['on the resource', { resourceType: 'Patient', extension: [{ url: URL }] }, 'Patient.extension[0]'],
    ['nested in a complex extension', { resourceType: 'Patient', extension: [{ url: URL, extension: [{ url: 'part' }] }] }, 'Patient.extension[0].extension[0]'],
    ['on a primitive (_birthDate)', { resourceType: 'Patient', birthDate: '2000-01-01', _birthDate: { extension: [{ url: URL }] } }, 'Patient._birthDate.extension[0]'],
    ['a modifier extension on a backbone element', { resourceType: 'Patient', contact: [{ name: { family: 'D' }, modifierExtension: [{ url: URL }] }] }, 'Patient.contact[0].modifierExtension[0]'],
  ];
  for (const [name, resource, at] of cases) {
    const { malformed, issues } = validateResourceDetailed(resource);
    t.equal(malformed, false, `${name}: a broken rule (422), not malformed JSON`);
    t.match(issues, [{ severity: 'error', code: 'invariant', expression: [at], diagnostics: /ext-1/ }], name);
  }
});

t.test('a value, or sub-extensions each with a value: valid', async (t) => {
  t.same(validateResourceDetailed({ resourceType: 'Patient', extension: [{ url: URL, valueString: 'a' }] }).issues, []);
  t.same(validateResourceDetailed({ resourceType: 'Patient', extension: [{ url: URL, extension: [{ url: 'part', valueBoolean: true }] }] }).issues, []);
  t.same(validateResourceDetailed({ resourceType: 'Patient', birthDate: '2000-01-01', _birthDate: { extension: [{ url: URL, valueCode: 'estimated' }] } }).issues, []);
});
