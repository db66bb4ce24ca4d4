import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// dom-3: a contained resource is referred to from elsewhere in the resource or refers to
// its container. Without an id nothing can refer to it.
const FHIR = 'application/fhir+json';
const observation = (extra: Record<string, unknown>) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...extra });

t.test('contained resources and dom-3', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const headers = { authorization: await auth('system/*.cruds'), 'content-type': FHIR };
  const post = (payload: unknown) => app.inject({ method: 'POST', url: '/fhir/Observation', headers, payload: JSON.stringify(payload) });

  t.test('a contained resource without an id: 422, dom-3 at the contained entry', async (t) => {
    const res = await post(observation({ contained: [{ resourceType: 'Patient', name: [{ family: 'Martin' }] }] }));
    t.equal(res.statusCode, 422);
    t.match(res.headers['content-type'], /application\/fhir\+json/);
    t.match(res.json(), { resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'invariant', expression: ['Observation.contained[0]'], diagnostics: /^dom-3: contained Patient has no id/ }] });
  });

  t.test('the entry named is the one without an id', async (t) => {
    const res = await post(observation({ subject: { reference: '#p' },
      contained: [{ resourceType: 'Patient', id: 'p' }, { resourceType: 'Device', deviceName: [{ name: 'cuff', type: 'user-friendly-name' }] }] }));
    t.equal(res.statusCode, 422);
    const issues = (res.json().issue ?? []) as Array<{ expression?: string[]; diagnostics?: string }>;
    t.same(issues.filter((i) => /dom-3/.test(i.diagnostics ?? '')).map((i) => i.expression), [['Observation.contained[1]']]);
  });

  t.test('as before: an unreferenced contained resource with an id is refused, a referenced one accepted', async (t) => {
    const unreferenced = await post(observation({ contained: [{ resourceType: 'Patient', id: 'p' }] }));
    t.equal(unreferenced.statusCode, 422);
    t.match(unreferenced.json(), { issue: [{ code: 'invariant', expression: ['Observation.contained[0]'], diagnostics: /^dom-3: contained resource 'p'/ }] });
    const referenced = await post(observation({ subject: { reference: '#p' }, contained: [{ resourceType: 'Patient', id: 'p' }] }));
    t.equal(referenced.statusCode, 201);
  });

  t.test('a contained resource without an id that refers to its container satisfies dom-3', async (t) => {
    const res = await post(observation({ contained: [{ resourceType: 'Provenance', target: [{ reference: '#' }], recorded: '2024-03-01T10:00:00Z',
      agent: [{ who: { display: 'Dr Martin' } }] }] }));
    t.equal(res.statusCode, 201, JSON.stringify(res.json()));
  });
});
