import t from 'tap';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { judgeEntry } from '../../conformance/search/matcher.js';
import { compareRanges, dateRange } from '../../conformance/search/date-range.js';

const obs: Observation = {
  resourceType: 'Observation', id: 'o1', status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }], text: 'Body weight' },
  subject: { reference: 'Patient/p1' }, effectiveDateTime: '2024-01-10',
  valueQuantity: { value: 72, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
};
const patient: Patient = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Dupont', given: ['Élodie'] }], gender: 'female', birthDate: '1980-05-12' };

const verdict = (type: string, r: Observation | Patient, name: string, value: string): string => judgeEntry(type, r, [[name, value]]).kind;

t.test('the kit judges returned entries against each parameter type', async (t) => {
  const cases: [string, Observation | Patient, string, string, string][] = [
    ['Observation', obs, 'code', 'http://loinc.org|29463-7', 'match'],
    ['Observation', obs, 'code', '29463-7', 'match'],
    ['Observation', obs, 'code', 'http://snomed.info/sct|29463-7', 'mismatch'],
    ['Observation', obs, 'code:not', 'http://loinc.org|29463-7', 'mismatch'],
    ['Observation', obs, 'code:text', 'body', 'match'],
    ['Observation', obs, 'code:in', 'http://example.org/vs', 'unverifiable'],
    ['Observation', obs, 'date', 'ge2024-01-01', 'match'],
    ['Observation', obs, 'date', 'gt2024-01-10', 'mismatch'],
    ['Observation', obs, 'date', '2024-01', 'match'],
    ['Observation', obs, 'date', 'lt2024-01-10', 'mismatch'],
    ['Observation', obs, 'value-quantity', 'gt70|http://unitsofmeasure.org|kg', 'match'],
    ['Observation', obs, 'value-quantity', '72|http://unitsofmeasure.org|g', 'mismatch'],
    ['Observation', obs, 'value-quantity', 'lt72', 'mismatch'],
    ['Observation', obs, 'patient', 'p1', 'match'],
    ['Observation', obs, 'patient', 'Patient/p1', 'match'],
    ['Observation', obs, 'patient', 'http://elsewhere.test/fhir/Patient/p1', 'match'],
    ['Observation', obs, 'subject:Patient', 'p2', 'mismatch'],
    ['Observation', obs, 'encounter:missing', 'true', 'match'],
    ['Observation', obs, 'value-quantity:missing', 'true', 'mismatch'],
    ['Observation', obs, 'subject.name', 'x', 'unverifiable'],
    ['Patient', patient, 'family', 'DUP', 'match'],
    ['Patient', patient, 'given', 'elodie', 'match'],
    ['Patient', patient, 'family:exact', 'dupont', 'mismatch'],
    ['Patient', patient, 'family:contains', 'pon', 'match'],
    ['Patient', patient, 'gender', 'male,female', 'match'],
    ['Patient', patient, 'birthdate', 'eb1990', 'match'],
    ['Patient', patient, 'birthdate', 'sa1990', 'mismatch'],
    ['Patient', patient, '_count', '1', 'match'],
  ];
  for (const [type, r, name, value, expected] of cases) t.equal(verdict(type, r, name, value), expected, `${type}?${name}=${value}`);
});

t.test('a resource of another type among the matches is a mismatch', async (t) => {
  t.equal(judgeEntry('Observation', patient, [['_id', 'p1']]).kind, 'mismatch');
});

t.test('dates are ranges at their precision', async (t) => {
  const day = dateRange('2024-03-01')!;
  t.equal(day.hi - day.lo, 86_400_000);
  t.equal(dateRange('2024-03-01T10:00:00+02:00')!.lo, Date.UTC(2024, 2, 1, 8));
  t.equal(dateRange('nonsense'), undefined);
  t.ok(compareRanges('ge', dateRange('2024-03-01T12:00:00Z')!, day), 'an instant inside the day is ge the day');
  t.notOk(compareRanges('gt', dateRange('2024-03-01T12:00:00Z')!, day), 'but not gt it');
});
