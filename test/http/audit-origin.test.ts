import t from 'tap';
import { FHIR_JSON, buildSpace, observation, seed } from '../helpers/people.js';

const ORIGIN = 'https://carnet.dev/fhir/CodeSystem/audit-origin';

// "Who looked at my space" must tell the server's own records from AuditEvents that clients wrote.
t.test('the server\'s AuditEvents carry its origin tag, which no client may write', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = { authorization: await space.systemAuth() };
  const obs = await seed(space, observation(space.alice, 'vital-signs'));
  await app.inject({ url: `/fhir/Observation/${obs}`, headers: { ...system, 'x-request-id': 'origin-read-1' } });
  const clientEvent = (tag?: boolean) => ({
    resourceType: 'AuditEvent',
    ...(tag ? { meta: { tag: [{ system: ORIGIN, code: 'carnet' }] } } : {}),
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    recorded: '2026-11-24T10:00:00Z',
    agent: [{ who: { reference: space.doctor }, requestor: true }],
    source: { observer: { display: 'carnet' } },
    entity: [{ what: { reference: space.alice } }],
  });
  const forged = await app.inject({ method: 'POST', url: '/fhir/AuditEvent', headers: { ...system, 'content-type': FHIR_JSON }, payload: clientEvent(true) });
  t.equal(forged.statusCode, 422);
  t.match(forged.json().issue[0].details.coding[0], { code: 'FHIR_ERR_AUDIT_ORIGIN' });
  const own = await app.inject({ method: 'POST', url: '/fhir/AuditEvent', headers: { ...system, 'content-type': FHIR_JSON }, payload: clientEvent() });
  t.equal(own.statusCode, 201, 'a client records its own AuditEvent, untagged');
  const tx = await app.inject({ method: 'POST', url: '/fhir', headers: { ...system, 'content-type': FHIR_JSON }, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'AuditEvent' }, resource: clientEvent(true) }] } });
  t.equal(tx.statusCode, 422, 'nor in a transaction');
  const byServer = (await app.inject({ url: `/fhir/AuditEvent?_tag=${encodeURIComponent(`${ORIGIN}|carnet`)}&site=origin-read-1`, headers: system })).json();
  t.equal(byServer.entry?.length, 1, 'the server\'s record of the read carries the tag');
  const trail = (await app.inject({ url: `/fhir/AuditEvent?patient=${space.alice}&_tag:not=${encodeURIComponent(`${ORIGIN}|carnet`)}`, headers: system })).json();
  t.same(trail.entry?.map((e: { resource: { id: string } }) => e.resource.id), [own.json().id], 'in the holder\'s trail, only the client\'s event lacks it');
});
