import t from 'tap';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

// The audit trail materialises its AuditEvents off the request path; whoever
// reads them must still see every access made before, their own included.
t.test('an access shows in AuditEvent searches at once, by type, system search and _revinclude', async (t) => {
  const server = await buildTestServer(t);
  const auth = await server.auth();
  const json = { authorization: auth, 'content-type': 'application/fhir+json' };
  const patient = (await server.app.inject({ method: 'POST', url: '/fhir/Patient', headers: json, payload: { resourceType: 'Patient', name: [{ family: 'Trace' }] } })).json<{ id: string }>().id;
  const obs = (await server.app.inject({
    method: 'POST', url: '/fhir/Observation', headers: json,
    payload: { resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject: { reference: `Patient/${patient}` } },
  })).json<{ id: string }>().id;
  const read = await server.app.inject({ url: `/fhir/Observation/${obs}`, headers: { authorization: auth, 'x-request-id': 'the-read' } });
  t.equal(read.statusCode, 200);

  const readEvents = (bundle: Bundle) => (bundle.entry ?? []).map((e) => e.resource as AuditEvent).filter((e) => e.resourceType === 'AuditEvent' && e.source?.site === 'the-read');
  const byType = (await server.app.inject({ url: `/fhir/AuditEvent?patient=Patient/${patient}&subtype=read`, headers: { authorization: auth } })).json<Bundle>();
  t.equal(readEvents(byType).length, 1, 'search on AuditEvent');
  t.same(readEvents(byType)[0]?.entity?.map((e) => e.what?.reference), [`Observation/${obs}`, `Patient/${patient}`]);

  const system = (await server.app.inject({ url: `/fhir?_type=AuditEvent&_count=100`, headers: { authorization: auth } })).json<Bundle>();
  t.equal(readEvents(system).length, 1, 'system search with _type');

  const revinclude = (await server.app.inject({ url: `/fhir/Patient?_id=${patient}&_revinclude=AuditEvent:patient`, headers: { authorization: auth } })).json<Bundle>();
  t.equal(readEvents(revinclude).length, 1, '_revinclude from the patient');

  const posted = await server.app.inject({ method: 'POST', url: '/fhir/AuditEvent/_search', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, payload: `patient=Patient/${patient}` });
  t.equal(readEvents(posted.json<Bundle>()).length, 1, 'POST _search');

  // Named only in a form body: the URL alone does not tell that AuditEvents may be returned.
  const again = await server.app.inject({ url: `/fhir/Observation/${obs}`, headers: { authorization: auth, 'x-request-id': 'the-second-read' } });
  t.equal(again.statusCode, 200);
  const form = await server.app.inject({ method: 'POST', url: '/fhir/Patient/_search', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, payload: `_id=${patient}&_revinclude=AuditEvent:patient` });
  const sites = (form.json<Bundle>().entry ?? []).map((e) => (e.resource as AuditEvent).source?.site);
  t.ok(sites.includes('the-second-read'), 'POST _search whose form body names AuditEvent');
});
