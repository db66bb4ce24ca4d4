import type { StructureDefinition, ValueSet } from '@medplum/fhirtypes';
import t from 'tap';
import { codedBindingProblem } from '../../src/fhir/validation/coded-binding.js';
import { createProfileRegistry } from '../../src/fhir/validation/profiles.js';
import { createValidator, validateResource, validateResourceDetailed } from '../../src/fhir/validation/validate.js';

// The rules behind test/http/validation-bindings-alignment.test.ts, and the cases the HTTP test leaves out.
const absent = [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }];
const errors = (resource: unknown) => validateResource(resource).filter((i) => i.severity === 'error');

t.test('codedBindingProblem: a coding with its system and a code of the value set, or why not', async (t) => {
  const vs = new Map([['http://example.org/cs', new Set(['a', 'b'])]]);
  const where = 'the required value set http://example.org/vs';
  t.equal(codedBindingProblem(vs, [{ system: 'http://example.org/cs', code: 'a' }], where), undefined);
  t.equal(codedBindingProblem(vs, [{ system: 'http://other', code: 'x' }, { system: 'http://example.org/cs', code: 'b' }], where), undefined);
  t.match(codedBindingProblem(vs, undefined, where), /^no code from the required value set http:\/\/example.org\/vs/);
  t.match(codedBindingProblem(vs, [{ display: 'A' }, null, 'a'], where), /^no code from/);
  t.match(codedBindingProblem(vs, [{ code: 'a' }], where), /none of "a" is in .*a code needs its system: "a" has none/);
  t.match(codedBindingProblem(vs, [{ system: 'http://example.org/CS', code: 'a' }], where), /none of http:\/\/example.org\/CS\|a is in/);
  t.match(codedBindingProblem(vs, [{ system: 'http://example.org/cs', code: 'A' }], where), /none of/, 'codes are case-sensitive');
});

t.test('base required bindings: text alone and system-less codes fail; unexpandable value sets stay unchecked', async (t) => {
  const condition = (clinicalStatus: unknown) => ({ resourceType: 'Condition', subject: { reference: 'Patient/p' }, clinicalStatus });
  t.match(errors(condition({ text: 'active' })), [{ code: 'code-invalid', expression: ['Condition.clinicalStatus'] }]);
  t.match(errors(condition({ coding: [{ code: 'active' }] })), [{ code: 'code-invalid', expression: ['Condition.clinicalStatus'] }]);
  t.match(errors(condition({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', _code: { extension: absent } }] })),
    [{ code: 'code-invalid', expression: ['Condition.clinicalStatus'] }], 'a code known only by its extensions is no code');
  t.same(errors(condition({ text: 'active', coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] })), []);
  // EffectEvidenceSynthesis.effectEstimate.unitOfMeasure is bound (required) to UCUM units, which the server cannot expand.
  const synthesis = { resourceType: 'EffectEvidenceSynthesis', status: 'draft', population: { reference: 'EvidenceVariable/p' },
    exposure: { reference: 'EvidenceVariable/e' }, exposureAlternative: { reference: 'EvidenceVariable/a' }, outcome: { reference: 'EvidenceVariable/o' },
    effectEstimate: [{ unitOfMeasure: { text: 'per cent' } }] };
  t.same(errors(synthesis), [], 'a value set listed as null in fhir-value-sets.json is not checked');
  // Extensible and preferred bindings accept text alone.
  t.same(errors({ resourceType: 'Condition', subject: { reference: 'Patient/p' }, code: { text: 'migraine' }, severity: { text: 'mild' } }), []);
});

t.test('carnet-document: a security label under its required binding needs a coding with its system', async (t) => {
  const VISIBILITY = 'https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument';
  const document = (securityLabel: unknown[]) => ({ resourceType: 'DocumentReference', meta: { profile: ['https://carnet.dev/fhir/StructureDefinition/carnet-document'] },
    status: 'current', type: { coding: [{ system: 'http://loinc.org', code: '11488-4' }] }, subject: { reference: 'Patient/p' }, date: '2024-01-01T00:00:00Z',
    author: [{ reference: 'Practitioner/d' }], securityLabel, content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/b' } }] });
  t.match(errors(document([{ text: 'MASQUE_PS' }])), [{ code: 'code-invalid', expression: ['DocumentReference.securityLabel[0]'], diagnostics: /no code from/ }]);
  t.match(errors(document([{ coding: [{ code: 'MASQUE_PS' }] }])), [{ code: 'code-invalid', expression: ['DocumentReference.securityLabel[0]'], diagnostics: /needs its system/ }]);
  t.same(errors(document([{ text: 'masqué', coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }])), []);
});

t.test('a profile\'s required binding on a Coding needs its system too', async (t) => {
  const url = 'https://example.org/fhir/StructureDefinition/coded-observation';
  const valueSet: ValueSet = { resourceType: 'ValueSet', url: 'https://example.org/fhir/ValueSet/codes', status: 'active',
    compose: { include: [{ system: 'https://example.org/cs', concept: [{ code: 'a' }] }] } };
  const profile: StructureDefinition = { resourceType: 'StructureDefinition', url, name: 'CodedObservation', status: 'active', kind: 'resource',
    abstract: false, type: 'Observation', baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Observation', derivation: 'constraint',
    snapshot: { element: [
      { id: 'Observation', path: 'Observation', min: 0, max: '*', base: { path: 'Observation', min: 0, max: '*' } },
      { id: 'Observation.code', path: 'Observation.code', min: 1, max: '1', base: { path: 'Observation.code', min: 1, max: '1' }, type: [{ code: 'CodeableConcept' }] },
      { id: 'Observation.code.coding', path: 'Observation.code.coding', min: 0, max: '*', base: { path: 'CodeableConcept.coding', min: 0, max: '*' },
        type: [{ code: 'Coding' }], binding: { strength: 'required', valueSet: valueSet.url } },
    ] } };
  const validator = createValidator({ registry: createProfileRegistry([profile, valueSet]) });
  const observation = (coding: unknown[]) => ({ resourceType: 'Observation', meta: { profile: [url] }, status: 'final', code: { coding } });
  const found = (coding: unknown[]) => validator.validateResource(observation(coding)).filter((i) => i.severity === 'error');
  t.same(found([{ system: 'https://example.org/cs', code: 'a' }]), []);
  t.match(found([{ code: 'a' }]), [{ code: 'code-invalid', expression: ['Observation.code.coding[0]'], diagnostics: /required by CodedObservation.*needs its system/ }]);
  t.match(found([{ system: 'https://example.org/cs', code: 'z' }]), [{ code: 'code-invalid', expression: ['Observation.code.coding[0]'] }]);
  t.match(found([{ system: 'https://example.org/cs', display: 'A' }]), [{ code: 'code-invalid', diagnostics: /no code from/ }]);
});

t.test('a required choice element known only by its _ twin is present', async (t) => {
  const immunization = (occurrence: Record<string, unknown>) => ({ resourceType: 'Immunization', status: 'completed',
    vaccineCode: { text: 'grippe' }, patient: { reference: 'Patient/p' }, ...occurrence });
  t.same(errors(immunization({ _occurrenceString: { extension: absent } })), []);
  t.match(errors(immunization({})), [{ code: 'required', expression: ['Immunization.occurrence[x]'] }]);
  t.match(errors(immunization({ _occurrenceString: { id: 'o' } })), [{ code: 'invariant', expression: ['Immunization._occurrenceString'], diagnostics: /ele-1/ }]);
});

t.test('primitive alignment: statuses and locations, nested elements included', async (t) => {
  const cases: Array<[string, unknown, boolean, string]> = [
    ['an extension\'s _valueString with an id alone', { resourceType: 'Patient', extension: [{ url: 'https://example.org/x', _valueString: { id: 'v' } }] },
      false, 'Patient.extension[0]._valueString'],
    ['_line longer than line, in an address', { resourceType: 'Patient', address: [{ line: ['1 rue'], _line: [null, { extension: absent }] }] },
      true, 'Patient.address[0]._line'],
    ['a contained resource\'s misaligned _given', { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: '#p' },
      contained: [{ resourceType: 'Patient', id: 'p', name: [{ given: ['a'], _given: [{ id: 'g' }, { id: 'h' }] }] }] }, true, 'Observation.contained[0].name[0]._given'],
  ];
  for (const [name, resource, malformed, at] of cases) {
    const result = validateResourceDetailed(resource);
    t.equal(result.malformed, malformed, name);
    t.ok(result.issues.some((i) => i.severity === 'error' && i.expression?.[0] === at), `${name}: ${JSON.stringify(result.issues)}`);
  }
  t.same(errors({ resourceType: 'Patient', address: [{ line: ['1 rue', null], _line: [null, { extension: absent }] }] }), []);
  t.match(validateResourceDetailed({ resourceType: 'Patient', name: [{ given: ['a'], _given: [] }] }),
    { malformed: false, issues: [{ code: 'structure', expression: ['Patient.name[0]._given'], diagnostics: /empty array/ }] }, 'an empty _ array, as an empty array');
});
