import t from 'tap';
import { buildTestServer } from '../helpers/server.js';
import { heartRate } from '../fixtures/heart-rate.js';

/** The whole server: a mode of $validate asks the store and the policy, as the write it stands for would. */
async function buildApp(t: Parameters<typeof buildTestServer>[0]) {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  return {
    inject: (request: { method: 'POST'; url: string; payload: string; headers: Record<string, string> }) =>
      app.inject({ ...request, headers: { ...request.headers, authorization } }),
  };
}

const post = (url: string, body: unknown) => ({
  method: 'POST' as const, url, payload: JSON.stringify(body), headers: { 'content-type': 'application/fhir+json' },
});

t.test('a valid resource: 200 and an informational All OK', async (t) => {
  const app = await buildApp(t);
  const res = await app.inject(post('/fhir/Observation/$validate', heartRate));
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /application\/fhir\+json/);
  t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] });
});

t.test('an invalid resource: 200 with every issue and its location', async (t) => {
  const app = await buildApp(t);
  const { status: _s, ...noStatus } = heartRate;
  const res = await app.inject(post('/fhir/Observation/$validate', { ...noStatus, foo: true, effectiveDateTime: '2024-13-01' }));
  t.equal(res.statusCode, 200);
  const issues = res.json().issue as Array<{ expression?: string[]; severity: string }>;
  const at = issues.map((i) => i.expression?.[0]);
  t.ok(at.includes('Observation.status'), 'missing status');
  t.ok(at.includes('Observation.foo'), 'unknown element');
  t.ok(at.includes('Observation.effectiveDateTime'), 'bad date');
  t.ok(issues.every((i) => i.severity === 'error'));
});

t.test('a Parameters body with resource and mode; type and id checked against the URL', async (t) => {
  const app = await buildApp(t);
  const params = { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { ...heartRate, id: 'a' } }, { name: 'mode', valueCode: 'update' }] };
  const ok = await app.inject(post('/fhir/Observation/a/$validate', params));
  t.equal(ok.statusCode, 200);
  t.match(ok.json(), { issue: [{ severity: 'information' }] });
  const wrongId = await app.inject(post('/fhir/Observation/b/$validate', params));
  t.match(wrongId.json(), { issue: [{ severity: 'error', expression: ['Observation.id'] }] });
  const wrongType = await app.inject(post('/fhir/Patient/$validate', heartRate));
  t.match(wrongType.json(), { issue: [{ severity: 'error', diagnostics: /not a Patient/ }] });
});

t.test('mode and profile from the query; unknown profile is a warning', async (t) => {
  const app = await buildApp(t);
  const res = await app.inject(post('/fhir/Observation/$validate?profile=https://example.org/unknown', heartRate));
  t.equal(res.statusCode, 200);
  t.match(res.json(), { issue: [{ severity: 'warning', diagnostics: /unknown/i }] });
  const bad = await app.inject(post('/fhir/Observation/$validate?mode=destroy', heartRate));
  t.equal(bad.statusCode, 400);
  const del = await app.inject(post('/fhir/Observation/x/$validate?mode=delete', {}));
  t.equal(del.statusCode, 200);
});
