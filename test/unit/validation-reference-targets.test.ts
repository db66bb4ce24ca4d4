import t from 'tap';
import { validateResourceDetailed } from '../../src/fhir/validation/validate.js';

const observation = (subject: Record<string, unknown>) => ({ resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject });
const problems = (resource: Record<string, unknown>) => validateResourceDetailed(resource).issues.filter((i) => i.severity === 'error');

t.test('a Reference names a type its element allows (R4 targetProfile)', async (t) => {
  for (const reference of ['Medication/123', 'http://other.example/fhir/Medication/123/_history/2', 'Medication?identifier=urn:x|1']) {
    t.match(problems(observation({ reference })), [{ code: 'value', expression: ['Observation.subject'], diagnostics: /refers to a Medication; expected one of Device, Group, Location, Patient/ }], reference);
  }
  t.match(problems(observation({ type: 'Medication', identifier: { value: '1' } })), [{ expression: ['Observation.subject'], diagnostics: /has type Medication/ }], 'its type too');
  for (const reference of ['Patient/123', 'http://other.example/fhir/Group/g/_history/1', 'Location?name=x', 'urn:uuid:0e4c1c4e-6d7e-4c9e-9d3c-7c8c2d9f7b11', 'Foo/1']) {
    t.same(problems(observation({ reference })), [], `${reference} passes (allowed, a placeholder judged once resolved, or not a resource type)`);
  }
  const anyResource = { resourceType: 'Provenance', target: [{ reference: 'Medication/1' }], recorded: '2026-01-01T00:00:00Z', agent: [{ who: { reference: 'Practitioner/p' } }] };
  t.same(problems(anyResource), [], 'Provenance.target takes any resource');
  const inChoice = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/1' }, focus: [{ reference: 'Medication/1' }] };
  t.same(problems(inChoice), [], 'Observation.focus takes any resource');
  const nested = { resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'urn:uuid:0e4c1c4e-6d7e-4c9e-9d3c-7c8c2d9f7b12', resource: observation({ reference: 'Medication/9' }) }] };
  t.match(problems(nested), [{ expression: ['Bundle.entry[0].resource.subject'] }], 'in a Bundle entry too');
});
