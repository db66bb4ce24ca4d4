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

t.test('a contained reference (#id) names a type its element allows, in its container', async (t) => {
  const medication = { resourceType: 'Medication', id: 'm', code: { text: 'paracétamol' } };
  const withContained = (subject: string, contained: unknown[]) => ({ ...observation({ reference: subject }), contained });
  t.match(problems(withContained('#m', [medication])), [{ code: 'value', expression: ['Observation.subject'], diagnostics: /refers to the contained Medication #m; expected one of Device, Group, Location, Patient/ }],
    'a contained Medication as the subject of an Observation');
  t.same(problems(withContained('#p', [{ resourceType: 'Patient', id: 'p', name: [{ family: 'Martin' }] }])), [], 'a contained Patient passes');
  t.match(problems(withContained('#nope', [{ resourceType: 'Patient', id: 'p' }])), [{ diagnostics: /ref-1/ }, { diagnostics: /dom-3/ }], 'a #id naming nothing is still ref-1\'s');

  // Contained resources refer to each other, and to their container by '#', in the container's scope.
  const panel = {
    resourceType: 'Observation', status: 'final', code: { text: 'bilan' }, subject: { reference: 'Patient/1' }, hasMember: [{ reference: '#o2' }, { reference: '#o3' }],
    contained: [
      { resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'a' }, subject: { reference: '#m' } },
      { resourceType: 'Observation', id: 'o3', status: 'final', code: { text: 'b' }, subject: { reference: 'Patient/1' }, derivedFrom: [{ reference: '#' }] },
      medication,
    ],
  };
  t.match(problems(panel), [{ expression: ['Observation.contained[0].subject'], diagnostics: /refers to the contained Medication #m/ }], 'from one contained resource to another');
  const toContainer = { ...panel, contained: [{ ...panel.contained[0], subject: { reference: '#' } }, panel.contained[1], medication] };
  t.match(problems(toContainer), [{ expression: ['Observation.contained[0].subject'], diagnostics: /refers to its container, an Observation; expected one of/ }], 'from a contained resource to its container');
});

t.test('a Bundle entry\'s contained references resolve in the entry, not in the Bundle', async (t) => {
  const entry = (resource: Record<string, unknown>) => ({ resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: 'urn:uuid:0e4c1c4e-6d7e-4c9e-9d3c-7c8c2d9f7b13', resource, request: { method: 'POST', url: resource.resourceType } }] });
  const patient = { resourceType: 'Patient', id: 'p', name: [{ family: 'Martin' }] };
  // Before, ref-1 looked for the entry's contained resource in the Bundle (%rootResource) and refused it.
  t.same(problems(entry({ ...observation({ reference: '#p' }), contained: [patient] })), [], 'an entry with a contained subject passes');
  t.match(problems(entry({ ...observation({ reference: '#m' }), contained: [{ resourceType: 'Medication', id: 'm' }] })),
    [{ expression: ['Bundle.entry[0].resource.subject'], diagnostics: /refers to the contained Medication #m/ }], 'and its type is checked');
});
