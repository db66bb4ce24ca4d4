import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// $validate through the whole server: what the URL and the body must be, and the codes its issues carry.
const FHIR = 'application/fhir+json';
const ERROR_CODES = 'https://carnet.dev/fhir/CodeSystem/error-code';

t.test('$validate input', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth('system/*.cruds');
  const post = (url: string, body: unknown) => app.inject({ method: 'POST', url: `/fhir/${url}`, headers: { authorization, 'content-type': FHIR }, payload: JSON.stringify(body) });

  t.test('an unknown type is a 404, as for POST /Foo', async (t) => {
    const res = await post('Foo/$validate', { resourceType: 'Patient' });
    t.equal(res.statusCode, 404);
    t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', details: { coding: [{ system: ERROR_CODES, code: 'FHIR_ERR_REST_UNKNOWN_TYPE' }] } }] });
    t.equal((await post('Foo/1/$validate', { resourceType: 'Patient' })).statusCode, 404);
  });

  t.test('a Parameters without a resource parameter is a 400, except at Parameters/$validate', async (t) => {
    const res = await post('Patient/$validate', { resourceType: 'Parameters' });
    t.equal(res.statusCode, 400);
    t.match(res.json(), { issue: [{ severity: 'error', diagnostics: /'resource' parameter/, details: { coding: [{ code: 'FHIR_ERR_VALIDATION_INPUT' }] } }] });
    const itself = await post('Parameters/$validate', { resourceType: 'Parameters', parameter: [{ name: 'x', valueString: 'y' }] });
    t.equal(itself.statusCode, 200);
    t.match(itself.json(), { issue: [{ severity: 'information' }] });
  });

  // Found by an exploratory tester: $validate read what the write it stands for refuses.
  t.test('a body or URL the write would refuse is refused as the write would be', async (t) => {
    const send = (url: string, type: string, payload: string) => app.inject({ method: 'POST', url: `/fhir/${url}`, headers: { authorization, 'content-type': type }, payload });
    const form = await send('Patient/$validate', 'application/x-www-form-urlencoded', 'resourceType=Patient&gender=bogus');
    t.equal(form.statusCode, 415, 'a form, as POST /Patient answers');
    t.match(form.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_HTTP_MEDIA_TYPE' }] } }] });
    t.equal((await send('Patient/$validate', 'application/json-patch+json', '[]')).statusCode, 415, 'a JSON Patch');
    t.equal((await send('Patient/$validate', 'application/json', '{"resourceType":"Patient"}')).statusCode, 200, 'plain JSON is FHIR JSON');
    for (const body of ['[]', '"x"', '42']) {
      const res = await send('Patient/$validate', FHIR, body);
      t.equal(res.statusCode, 400, `a body ${body} is no resource`);
      t.match(res.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_VALIDATION_INPUT' }] } }] });
    }
    const noType = await post('Patient/$validate', {});
    t.match(noType.json(), { issue: [{ diagnostics: 'The resource has no resourceType: a Patient was expected' }] });
    const badId = await post('Patient/a%20b/$validate', { resourceType: 'Patient', id: 'a b' });
    t.equal(badId.statusCode, 400, 'an id that is none, as an update there would answer');
    t.match(badId.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_REST_INVALID_ID' }] } }] });
  });

  t.test('every issue of the answer carries its error code', async (t) => {
    const warning = await post('Patient/$validate', { resourceType: 'Patient', meta: { profile: ['https://example.org/unknown'] } });
    t.equal(warning.statusCode, 200);
    t.match(warning.json(), { issue: [{ severity: 'warning', details: { coding: [{ system: ERROR_CODES, code: 'FHIR_ERR_VALIDATION_RULE' }] } }] });
    const broken = await post('Patient/p1/$validate?mode=update', { resourceType: 'Observation', id: 'p2', foo: 1 });
    const issues = broken.json().issue as Array<{ severity: string; details?: { coding?: Array<{ system: string; code: string }> } }>;
    t.ok(issues.length >= 3, 'type, id and structure issues');
    t.ok(issues.every((i) => i.details?.coding?.[0]?.system === ERROR_CODES), 'each has a details.coding');
    t.match(issues.map((i) => i.details?.coding?.[0]?.code), ['FHIR_ERR_REST_TYPE_MISMATCH', 'FHIR_ERR_REST_ID_MISMATCH']);
  });

  t.test('any method but POST is a 405 with Allow: POST', async (t) => {
    for (const [method, url] of [['GET', 'Patient/$validate'], ['GET', 'Patient/p1/$validate'], ['PUT', 'Patient/$validate'], ['DELETE', 'Patient/p1/$validate']] as const) {
      const res = await app.inject({ method, url: `/fhir/${url}`, headers: { authorization } });
      t.equal(res.statusCode, 405, `${method} ${url}`);
      t.equal(res.headers.allow, 'POST');
      t.match(res.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_HTTP_METHOD' }] } }] });
    }
  });
});
