/**
 * Median time of one full validation (structure, base rules, invariants, profile)
 * of a typical vital-sign Observation and a DocumentReference.
 *   npx tsx scripts/bench-validation.ts      (or node dist/scripts/bench-validation.js after a build)
 */
import { validateResource } from '../src/fhir/validation/validate.js';

const vitalSign = {
  resourceType: 'Observation',
  meta: { profile: ['https://carnet.dev/fhir/StructureDefinition/carnet-vital-sign'] },
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital Signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel' }] },
  subject: { reference: 'Patient/7f3c9a2e' },
  effectiveDateTime: '2024-03-01T10:00:00+01:00',
  component: [
    { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 128, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
    { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 82, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
  ],
};

const document = {
  resourceType: 'DocumentReference',
  meta: { profile: ['https://carnet.dev/fhir/StructureDefinition/carnet-document'] },
  status: 'current',
  type: { coding: [{ system: 'http://loinc.org', code: '11488-4', display: 'Consult note' }] },
  category: [{ coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument', code: '10' }] }],
  subject: { reference: 'Patient/7f3c9a2e' },
  date: '2024-03-01T10:00:00+01:00',
  author: [{ reference: 'Practitioner/p-1' }],
  securityLabel: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }] }],
  content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/b-1', size: 48213, hash: '2jmj7l5rSw0yVb/vlWAYkK/YBwk=', title: 'Consultation' } }],
};

function median(fn: () => void, runs = 20000): number {
  for (let i = 0; i < 2000; i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

/** Median microseconds per validation of each sample resource (also a line of `npm run bench`). */
export function measureValidation(): Array<{ name: string; medianMicros: number }> {
  return ([['vital-sign Observation (blood pressure)', vitalSign], ['DocumentReference', document]] as const).map(([name, resource]) => {
    const issues = validateResource(resource);
    if (issues.length) throw new Error(`${name} should be valid: ${JSON.stringify(issues)}`);
    return { name, medianMicros: median(() => validateResource(resource)) };
  });
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const { name, medianMicros } of measureValidation()) console.log(`${name}: median ${medianMicros.toFixed(1)} µs per validation`);
}
