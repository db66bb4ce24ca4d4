import t from 'tap';
import type { FastifyInstance } from 'fastify';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { buildSpace, FHIR_JSON, holderBearer } from '../helpers/people.js';

/**
 * The access history is never matched by Subscriptions (it is materialised
 * in the background, apart from the writes they watch): a Subscription on
 * AuditEvent was accepted and then never notified anything. It is refused
 * as criteria this server cannot match on each write.
 */
t.test('criteria on AuditEvent are refused: 422 FHIR_ERR_SUBSCRIPTION_CRITERIA, by every path', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const alice = await holderBearer(app, space.users.alice);
  const system = await space.systemAuth();
  const body = (criteria: string) => ({
    resourceType: 'Subscription', status: 'requested', reason: 'who reads me', criteria,
    channel: { type: 'rest-hook', endpoint: 'https://hooks.example/audit', payload: FHIR_JSON },
  });
  const send = (app: FastifyInstance, authorization: string, method: 'POST' | 'PUT', url: string, criteria: string) =>
    app.inject({ method, url, headers: { authorization, 'content-type': FHIR_JSON }, payload: { ...body(criteria), ...(method === 'PUT' && !url.includes('?') ? { id: url.split('/').pop() } : {}) } });

  for (const [who, authorization] of [['the holder\'s app', alice], ['a system client', system]] as const) {
    for (const [method, url] of [['POST', '/fhir/Subscription'], ['PUT', '/fhir/Subscription/audit-watch'], ['PUT', '/fhir/Subscription?url=https://hooks.example/audit']] as const) {
      for (const criteria of [`AuditEvent?patient=${space.alice}`, 'AuditEvent?_id=x', 'AuditEvent']) {
        const res = await send(app, authorization, method, url, criteria);
        t.equal(res.statusCode, 422, `${who}, ${method} ${url}, ${criteria}: 422 (${res.body.slice(0, 160)})`);
        const outcome = res.json() as OperationOutcome;
        t.equal(outcome.issue?.[0]?.details?.coding?.[0]?.code, 'FHIR_ERR_SUBSCRIPTION_CRITERIA');
        t.same(outcome.issue?.[0]?.expression, ['Subscription.criteria']);
      }
    }
  }
  const listed = await app.inject({ url: '/fhir/Subscription', headers: { authorization: system } });
  t.equal(listed.json().total, 0, 'none was stored');
  const other = await send(app, alice, 'POST', '/fhir/Subscription', `Observation?patient=${space.alice}`);
  t.equal(other.statusCode, 201, 'criteria on the space\'s data are accepted as before');
});
