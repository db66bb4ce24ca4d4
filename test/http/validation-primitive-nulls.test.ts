import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// R4 JSON (json.html#primitive): null holds a place in an array of primitives and
// in its `_` array, so that values and their extensions stay aligned.
const FHIR = 'application/fhir+json';
const ext = [{ url: 'https://example.org/fhir/StructureDefinition/origin', valueString: 'birth certificate' }];

t.test('null placeholders in primitive arrays', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const headers = { authorization: await auth('system/*.cruds'), 'content-type': FHIR };
  const post = (type: string, payload: unknown) => app.inject({ method: 'POST', url: `/fhir/${type}`, headers, payload: JSON.stringify(payload) });
  const get = (url: string) => app.inject({ method: 'GET', url: `/fhir/${url}`, headers: { authorization: headers.authorization } });

  const extensionOnSecond = { resourceType: 'Patient', name: [{ family: 'Durand', given: ['Jean', 'Marie'], _given: [null, { extension: ext }] }],
    address: [{ line: [null, '3 rue Pasteur'], _line: [{ extension: ext }, null], city: 'Lyon' }] };
  const valueOnlyByExtension = { resourceType: 'Patient', name: [{ family: 'Martin', given: [null, 'Louise'], _given: [{ extension: ext }, null] }] };

  t.test('accepted, stored as sent, and found by search', async (t) => {
    const first = await post('Patient', extensionOnSecond);
    t.equal(first.statusCode, 201, first.body);
    t.same(first.json().name, extensionOnSecond.name, 'the arrays are stored as sent, nulls included');
    const second = await post('Patient', valueOnlyByExtension);
    t.equal(second.statusCode, 201, second.body);

    const byGiven = await get('Patient?given=Marie');
    t.equal(byGiven.statusCode, 200);
    t.same(byGiven.json().entry.map((e: { resource: { id: string } }) => e.resource.id), [first.json().id]);
    const byLouise = await get('Patient?given=Louise');
    t.same(byLouise.json().entry.map((e: { resource: { id: string } }) => e.resource.id), [second.json().id]);
    const byLine = await get('Patient?address=3%20rue');
    t.same(byLine.json().entry.map((e: { resource: { id: string } }) => e.resource.id), [first.json().id]);

    const summary = await get(`Patient/${first.json().id}?_summary=true`);
    t.equal(summary.statusCode, 200);
    t.same(summary.json().name, extensionOnSecond.name, '_summary keeps name with its placeholders');
    const elements = await get(`Patient?_elements=name&given=Louise`);
    t.same(elements.json().entry[0].resource.name, valueOnlyByExtension.name);
  });

  t.test('the same through $validate and an update', async (t) => {
    const validated = await post('Patient/$validate', valueOnlyByExtension);
    t.match(validated.json(), { issue: [{ severity: 'information' }] });
    const created = await post('Patient', valueOnlyByExtension);
    const id = created.json().id as string;
    const updated = await app.inject({ method: 'PUT', url: `/fhir/Patient/${id}`, headers, payload: JSON.stringify({ ...extensionOnSecond, id }) });
    t.equal(updated.statusCode, 200, updated.body);
  });

  t.test('null anywhere else stays a 400 naming the element', async (t) => {
    const cases: Array<[string, unknown, string]> = [
      ['null at the same index of both arrays', { resourceType: 'Patient', name: [{ given: ['Jean', null], _given: [{ extension: ext }, null] }] }, 'Patient.name[0].given[1]'],
      ['null in a primitive array without its _ array', { resourceType: 'Patient', name: [{ given: ['Jean', null] }] }, 'Patient.name[0].given[1]'],
      ['null in the _ array where the value array is shorter', { resourceType: 'Patient', name: [{ given: ['Jean'], _given: [{ extension: ext }, null] }] }, 'Patient.name[0]._given[1]'],
      ['null in an array of complex elements', { resourceType: 'Patient', name: [null, { family: 'Durand' }] }, 'Patient.name[0]'],
      ['a null primitive', { resourceType: 'Patient', birthDate: null }, 'Patient.birthDate'],
    ];
    for (const [name, body, at] of cases) {
      const res = await post('Patient', body);
      t.equal(res.statusCode, 400, name);
      t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'structure', expression: [at], diagnostics: /not null/ }] }, name);
    }
  });
});
