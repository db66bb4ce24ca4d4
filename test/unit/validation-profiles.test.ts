import type { StructureDefinition } from '@medplum/fhirtypes';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ValidationError } from '../../src/errors.js';
import { compileInvariant } from '../../src/fhir/validation/invariants.js';
import { NATIVE_PROFILE_INVARIANTS } from '../../src/fhir/validation/native-profile-invariants.js';
import { findProfilesDir } from '../../src/fhir/validation/profiles.js';
import { createValidator, validateResource } from '../../src/fhir/validation/validate.js';

const SD = 'https://carnet.dev/fhir/StructureDefinition/';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';

const bp = () => ({
  resourceType: 'Observation',
  meta: { profile: [`${SD}carnet-vital-sign`] },
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: LOINC, code: '85354-9' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2024-03-01T10:00:00+01:00',
  component: [
    { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 128, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } },
    { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: { value: 82, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } },
  ] as Array<Record<string, unknown>>,
});

const documentReference = () => ({
  resourceType: 'DocumentReference',
  meta: { profile: [`${SD}carnet-document`] },
  status: 'current',
  type: { coding: [{ system: LOINC, code: '11488-4' }] },
  subject: { reference: 'Patient/p1' },
  date: '2024-03-01T10:00:00+01:00',
  author: [{ reference: 'Practitioner/1' }] as unknown[] | undefined,
  securityLabel: [{ coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument', code: 'MASQUE_PS' }] }],
  content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/b1' } as Record<string, unknown> }],
});

t.test('carnet-vital-sign: a blood pressure with both components in mm[Hg] passes', async (t) => {
  t.same(validateResource(bp()), []);
});

t.test('carnet-vital-sign: missing diastolic, wrong unit, unknown code, wrong subject type', async (t) => {
  const noDiastolic = bp();
  noDiastolic.component.pop();
  t.match(validateResource(noDiastolic), [{ code: 'invariant', diagnostics: /carnet-vs-1/ }]);
  const heartRate = { ...bp(), code: { coding: [{ system: LOINC, code: '8867-4' }] }, component: undefined,
    valueQuantity: { value: 72, unit: 'beats/min' } };
  t.match(validateResource(heartRate), [{ diagnostics: /carnet-vs-2/ }]);
  const unknownCode = { ...bp(), code: { coding: [{ system: LOINC, code: '1234-5' }] } };
  t.match(validateResource(unknownCode), [{ code: 'code-invalid', expression: ['Observation.code'] }]);
  const group = { ...bp(), subject: { reference: 'Group/g' } };
  t.match(validateResource(group), [{ expression: ['Observation.subject'], diagnostics: /Patient/ }]);
  const noCategory = { ...bp(), category: [{ text: 'misc' }] };
  t.match(validateResource(noCategory), [{ code: 'required', diagnostics: /VSCat/ }]);
});

t.test('R4 bp profile: slices by component code, fixed unit', async (t) => {
  const r = { ...bp(), meta: { profile: ['http://hl7.org/fhir/StructureDefinition/bp'] } };
  t.same(validateResource(r), []);
  const wrongUnit = bp();
  (wrongUnit.component[0].valueQuantity as Record<string, unknown>).code = 'mmHg';
  const issues = validateResource({ ...wrongUnit, meta: { profile: ['http://hl7.org/fhir/StructureDefinition/bp'] } });
  t.match(issues, [{ code: 'value', expression: ['Observation.component[0].valueQuantity.code'], diagnostics: /mm\[Hg\]/ }]);
});

t.test('carnet-document: type, author, content type and visibility label', async (t) => {
  t.same(validateResource(documentReference()), []);
  const patientDoc = documentReference();
  patientDoc.type = { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire', code: 'DOCPAT03' }] };
  t.same(validateResource(patientDoc), [], 'a document added by the patient');
  const bad = documentReference();
  bad.type = { coding: [{ system: LOINC, code: '0000-0' }] };
  bad.author = undefined;
  bad.securityLabel = [{ coding: [{ system: 'http://example.org', code: 'SECRET' }] }];
  delete bad.content[0].attachment.contentType;
  const at = validateResource(bad).map((i) => i.expression?.[0]);
  t.same(at.sort(), ['DocumentReference.author', 'DocumentReference.content[0].attachment.contentType', 'DocumentReference.securityLabel[0]', 'DocumentReference.type'].sort());
});

t.test('carnet-patient: at most one INS of each kind', async (t) => {
  const patient = { resourceType: 'Patient', meta: { profile: [`${SD}carnet-patient`] }, name: [{ family: 'Martin' }],
    identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '279035121518989' }] };
  t.same(validateResource(patient), []);
  const twice = { ...patient, identifier: [...patient.identifier, { system: 'urn:oid:1.2.250.1.213.1.4.8', value: '1' }] };
  t.match(validateResource(twice), [{ expression: ['Patient.identifier'], diagnostics: /INS-NIR/ }]);
  t.match(validateResource({ ...patient, name: undefined }), [{ code: 'required', expression: ['Patient.name'] }]);
});

t.test('carnet-consent and carnet-history-item: pattern values', async (t) => {
  const consent = { resourceType: 'Consent', meta: { profile: [`${SD}carnet-consent`] }, status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'adr' }] },
    category: [{ text: 'privacy' }], patient: { reference: 'Patient/p1' }, dateTime: '2024-01-01', policyRule: { text: 'x' }, provision: { type: 'deny' } };
  t.match(validateResource(consent), [{ code: 'value', expression: ['Consent.scope'] }]);
  const condition = { resourceType: 'Condition', meta: { profile: [`${SD}carnet-history-item`] }, subject: { reference: 'Patient/p1' },
    code: { text: 'asthma' }, category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }] }] };
  t.same(validateResource(condition).filter((i) => i.severity === 'error'), []);
});

t.test('unknown profile: a warning, not an error', async (t) => {
  const validator = createValidator();
  const warnings = validator.assertValid({ ...bp(), meta: { profile: ['https://example.org/StructureDefinition/none'] } });
  t.match(warnings, [{ severity: 'warning', code: 'not-supported' }]);
});

t.test('required profiles per type apply without meta.profile', async (t) => {
  const validator = createValidator({ requiredProfiles: { DocumentReference: [`${SD}carnet-document`] } });
  const { meta: _m, ...plain } = documentReference();
  t.same(validator.validateResource(plain), []);
  try {
    validator.assertValid({ ...plain, author: undefined });
    t.fail('should throw');
  } catch (e) {
    t.ok(e instanceof ValidationError && e.statusCode === 422);
  }
  t.same(createValidator().validateResource({ ...plain, author: undefined }), [], 'not required elsewhere');
});

t.test('native profile invariants agree with their FHIRPath expression', async (t) => {
  const dir = findProfilesDir() as string;
  const sd = JSON.parse(readFileSync(path.join(dir, 'StructureDefinition-carnet-vital-sign.json'), 'utf8')) as StructureDefinition;
  const samples = [bp(), (() => { const r = bp(); r.component.pop(); return r; })(),
    { ...bp(), component: undefined, code: { coding: [{ system: LOINC, code: '8867-4' }] }, valueQuantity: { value: 1, system: UCUM, code: '/min' } },
    { ...bp(), component: undefined, valueQuantity: { value: 1, unit: 'x' } }, { ...bp(), component: undefined, valueString: 'high' }];
  for (const c of sd.differential?.element?.[0]?.constraint ?? []) {
    const native = NATIVE_PROFILE_INVARIANTS[c.key as string];
    t.ok(native, `${c.key} has a native form`);
    const fhirpath = compileInvariant('Observation', { key: c.key as string, severity: 'error', human: '', expression: c.expression as string });
    for (const s of samples) {
      const r = JSON.parse(JSON.stringify(s));
      t.equal(native(r), fhirpath?.holds(r, { resource: r, rootResource: r }), `${c.key} on ${JSON.stringify(r.code)}`);
    }
  }
});

t.test('fhir-profiles: every StructureDefinition has a differential and a snapshot under our canonical base', async (t) => {
  const dir = findProfilesDir() as string;
  const sds = readdirSync(dir).filter((f) => f.startsWith('StructureDefinition-'))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as StructureDefinition);
  t.ok(sds.length >= 9);
  for (const sd of sds) {
    t.ok(sd.url?.startsWith(SD), sd.url);
    t.ok(sd.differential?.element?.length, `${sd.id} differential`);
    t.equal(sd.snapshot?.element?.[0]?.path, sd.type, `${sd.id} snapshot`);
    for (const d of sd.differential?.element ?? []) t.ok(sd.snapshot?.element?.some((e) => e.id === d.id), `${sd.id}: ${d.id} in snapshot`);
  }
});

t.test('REQUIRED_PROFILES parsing', async (t) => {
  const { parseRequiredProfiles } = await import('../../src/fhir/validation/validate.js');
  t.same(parseRequiredProfiles(undefined), {});
  t.same(parseRequiredProfiles(`DocumentReference=${SD}carnet-document; Observation=${SD}carnet-vital-sign,http://hl7.org/fhir/StructureDefinition/vitalsigns`), {
    DocumentReference: [`${SD}carnet-document`], Observation: [`${SD}carnet-vital-sign`, 'http://hl7.org/fhir/StructureDefinition/vitalsigns'] });
  t.throws(() => parseRequiredProfiles('DocumentReference'));
  t.throws(() => parseRequiredProfiles('DocumentReference=not a url'));
});

t.test('carnet-document: the subject is a Patient however the reference is written', async (t) => {
  // R4 allows Patient, Practitioner, Group and Device; the profile only Patient.
  for (const reference of ['Group/g', 'https://other.example/fhir/Group/g', 'https://other.example/fhir/Group/g/_history/2', 'Group?identifier=urn:x|1']) {
    t.match(validateResource({ ...documentReference(), subject: { reference } }), [{ expression: ['DocumentReference.subject'], diagnostics: /must refer to Patient, not Group/ }], reference);
  }
  t.same(validateResource({ ...documentReference(), subject: { reference: 'https://other.example/fhir/Patient/p1' } }), [], 'an absolute Patient reference passes');
});
