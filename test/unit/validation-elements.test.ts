import t from 'tap';
import { validateResource, validateResourceDetailed } from '../../src/fhir/validation/validate.js';

const at = (issues: Array<{ expression?: string[] }>) => issues.map((i) => i.expression?.[0]);

t.test('minimum cardinality from the StructureDefinition, with the FHIRPath of the missing element', async (t) => {
  const r = validateResourceDetailed({ resourceType: 'Observation', code: { text: 'x' } });
  t.equal(r.malformed, false, 'a missing element breaks a rule, it is not malformed JSON');
  t.match(r.issues, [{ severity: 'error', code: 'required', expression: ['Observation.status'] }]);
  const nested = validateResource({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, component: [{ valueString: 'a' }] });
  t.match(nested, [{ code: 'required', expression: ['Observation.component[0].code'] }]);
  const inType = validateResource({ resourceType: 'Patient', extension: [{ valueString: 'no url' }] });
  t.ok(at(inType).includes('Patient.extension[0].url'), 'data types are checked too');
});

t.test('empty arrays and empty objects are refused', async (t) => {
  const issues = validateResource({ resourceType: 'Patient', name: [], maritalStatus: {} });
  t.ok(at(issues).includes('Patient.name'));
  t.ok(at(issues).includes('Patient.maritalStatus'));
});

t.test('a choice element holds one type only', async (t) => {
  const issues = validateResource({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueString: 'a', valueBoolean: true });
  t.match(issues, [{ code: 'structure', diagnostics: /Only one of valueString and valueBoolean/ }]);
});

t.test('dates must exist on the calendar; dateTime with a time needs a timezone', async (t) => {
  t.match(validateResource({ resourceType: 'Patient', birthDate: '2023-02-29' }), [{ code: 'value', expression: ['Patient.birthDate'] }]);
  t.same(validateResource({ resourceType: 'Patient', birthDate: '2024-02-29' }), []);
  t.match(validateResource({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, effectiveDateTime: '2024-01-01T10:00:00' }),
    [{ code: 'value', expression: ['Observation.effectiveDateTime'] }]);
});

t.test('codes: no surrounding whitespace; required bindings of nested elements', async (t) => {
  t.match(validateResource({ resourceType: 'Patient', gender: ' male' }), [{ expression: ['Patient.gender'] }]);
  const issues = validateResource({ resourceType: 'Patient', telecom: [{ system: 'pigeon', value: 'x' }] });
  t.match(issues, [{ code: 'code-invalid', expression: ['Patient.telecom[0].system'] }]);
  const cc = validateResource({ resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/1' },
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'gone' }] } });
  t.match(cc, [{ code: 'code-invalid', expression: ['AllergyIntolerance.clinicalStatus'] }]);
});

t.test('strings longer than 1 MiB are refused', async (t) => {
  const issues = validateResource({ resourceType: 'Patient', name: [{ text: 'a'.repeat(1024 * 1024 + 1) }] });
  t.match(issues, [{ code: 'too-long', expression: ['Patient.name[0].text'] }]);
});

t.test('invariants: obs-6, per-1, qty-3, ext-1', async (t) => {
  const base = { resourceType: 'Observation', status: 'final', code: { text: 'x' } };
  t.match(validateResource({ ...base, valueString: 'a', dataAbsentReason: { text: 'n/a' } }), [{ code: 'invariant', diagnostics: /obs-6/ }]);
  t.match(validateResource({ ...base, effectivePeriod: { start: '2024-02-01', end: '2024-01-01' } }),
    [{ code: 'invariant', expression: ['Observation.effectivePeriod'], diagnostics: /per-1/ }]);
  t.match(validateResource({ ...base, valueQuantity: { value: 1, code: 'kg' } }), [{ code: 'invariant', diagnostics: /qty-3/ }]);
  t.match(validateResource({ resourceType: 'Patient', extension: [{ url: 'http://x', valueString: 'a', extension: [{ url: 'y', valueString: 'b' }] }] }),
    [{ code: 'invariant', diagnostics: /ext-1/ }]);
});

t.test('narrative: unsafe XHTML is refused (txt-1)', async (t) => {
  const ok = validateResource({ resourceType: 'Patient', text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Ann</p></div>' } });
  t.same(ok, []);
  const bad = validateResource({ resourceType: 'Patient', text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>' } });
  t.match(bad, [{ code: 'invariant', expression: ['Patient.text.div'], diagnostics: /txt-1/ }]);
  const handler = validateResource({ resourceType: 'Patient', text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">Ann</p></div>' } });
  t.match(handler, [{ code: 'invariant', diagnostics: /txt-1/ }]);
});

t.test('contained resources: validated in full, and must be referenced (dom-3)', async (t) => {
  const contained = { resourceType: 'Medication', id: 'm1', code: { text: 'aspirin' } };
  const used = { resourceType: 'MedicationStatement', status: 'active', subject: { reference: 'Patient/1' },
    medicationReference: { reference: '#m1' }, contained: [contained] };
  t.same(validateResource(used), []);
  const unused = { ...used, medicationReference: undefined, medicationCodeableConcept: { text: 'x' } };
  t.match(validateResource(unused), [{ code: 'invariant', expression: ['MedicationStatement.contained[0]'], diagnostics: /dom-3/ }]);
  const broken = { ...used, contained: [{ ...contained, status: 'nope' }] };
  t.match(validateResource(broken), [{ expression: ['MedicationStatement.contained[0].status'] }]);
  const nested = { ...used, contained: [{ ...contained, contained: [{ resourceType: 'Substance', id: 's', code: { text: 's' } }] }] };
  t.ok(validateResource(nested).some((i) => /dom-2/.test(i.diagnostics ?? '')), 'dom-2: no nested contained');
});

t.test('Bundle entries are validated as resources', async (t) => {
  const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Patient', gender: 'robot' } }] };
  t.match(validateResource(bundle), [{ expression: ['Bundle.entry[0].resource.gender'] }]);
});
