import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

// Found by an exploratory tester: a raw Binary posted with an X-Security-Context that is no reference
// (`not a ref!!`, an absolute URL, a versioned reference) was stored without any securityContext, so the
// writer believed the bytes guarded by a context they were not. Now a 400, and nothing is stored.
t.test('an X-Security-Context that is no Type/id reference is refused', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const post = (context: string) => app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'application/pdf', 'x-security-context': context }, payload: Buffer.from('%PDF-1.7 bytes') });
  for (const context of ['not a ref!!', 'http://127.0.0.1:8080/fhir/Patient/p1', 'Patient/p1/_history/1', 'Patient/', '']) {
    const res = await post(context);
    t.equal(res.statusCode, 400, `${JSON.stringify(context)}: 400`);
    t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ details: { coding: [{ code: 'FHIR_ERR_REST_SECURITY_CONTEXT' }] }, diagnostics: /X-Security-Context must be a reference Type\/id/ }] });
  }
  t.equal((await app.inject({ url: '/fhir/Binary?_summary=count', headers: { authorization } })).json().total, 0, 'nothing was stored');
  const kept = await post('Basic/b1');
  t.equal(kept.statusCode, 201, 'a Type/id reference is stored');
  t.match(kept.json(), { securityContext: { reference: 'Basic/b1' } });
});
