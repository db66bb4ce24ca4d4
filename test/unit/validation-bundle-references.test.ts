import t from 'tap';
import { validateBundleReferences } from '../../src/fhir/validation/validate.js';

const tx = (entry: unknown[]) => ({ resourceType: 'Bundle', type: 'transaction', entry });

t.test('references to entries, to existing types, to contained and external resources pass', async (t) => {
  const bundle = tx([
    { fullUrl: 'urn:uuid:8a0c1a5e-0d5c-4b79-9d1b-2f6a1d3c9e11', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
    { fullUrl: 'urn:uuid:1b0c1a5e-0d5c-4b79-9d1b-2f6a1d3c9e12', request: { method: 'POST', url: 'Observation' }, resource: {
      resourceType: 'Observation', subject: { reference: 'urn:uuid:8a0c1a5e-0d5c-4b79-9d1b-2f6a1d3c9e11' },
      performer: [{ reference: 'Practitioner/p1' }, { reference: 'https://other.example/fhir/Practitioner/9' }],
      specimen: { reference: '#s' }, contained: [{ resourceType: 'Specimen', id: 's' }] } },
  ]);
  t.same(validateBundleReferences(bundle), []);
});

t.test('an unresolved urn:uuid, an unknown type or a malformed reference is an issue with its location', async (t) => {
  const issues = validateBundleReferences(tx([
    { fullUrl: 'urn:uuid:1b0c1a5e-0d5c-4b79-9d1b-2f6a1d3c9e12', resource: { resourceType: 'Observation',
      subject: { reference: 'urn:uuid:00000000-0000-4000-8000-000000000000' }, performer: [{ reference: 'Doctor/1' }, { reference: 'not a ref' }] } },
  ]));
  t.match(issues, [
    { severity: 'error', code: 'not-found', expression: ['Bundle.entry[0].resource.subject.reference'] },
    { code: 'invalid', expression: ['Bundle.entry[0].resource.performer[0].reference'] },
    { code: 'invalid', expression: ['Bundle.entry[0].resource.performer[1].reference'] },
  ]);
});

t.test('only transaction and batch Bundles are concerned', async (t) => {
  t.same(validateBundleReferences({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Observation', subject: { reference: 'urn:uuid:x' } } }] }), []);
  t.same(validateBundleReferences({ resourceType: 'Patient' }), []);
});
