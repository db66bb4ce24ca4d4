import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

t.test('ITI-67/ITI-66 declared with X-IHE-Transaction require patient and status', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const search = (url: string, transaction?: string) => app.inject({ url, headers: { authorization, ...(transaction ? { 'x-ihe-transaction': transaction } : {}) } });
  t.equal((await search('/fhir/DocumentReference?patient=p1', 'ITI-67')).statusCode, 400, 'status missing');
  const missing = await search('/fhir/DocumentReference?status=current', 'ITI-67');
  t.equal(missing.statusCode, 400, 'patient missing');
  t.match(missing.json(), { issue: [{ expression: ['patient'] }] });
  t.equal((await search('/fhir/DocumentReference?patient=p1&status=current', 'ITI-67')).statusCode, 200);
  t.equal((await search('/fhir/DocumentReference?patient.identifier=urn:oid:1.2.250.1.213.1.4.8|1&status=current', 'ITI-67')).statusCode, 200);
  t.equal((await search('/fhir/List?code=submissionset', 'ITI-66')).statusCode, 400);
  t.equal((await search('/fhir/List?patient=p1&status=current&code=submissionset', 'ITI-66')).statusCode, 200);
  t.equal((await search('/fhir/DocumentReference?patient=p1')).statusCode, 200, 'without the declaration: an ordinary search');
});
