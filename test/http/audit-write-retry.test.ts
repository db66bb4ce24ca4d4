import t from 'tap';
import type { Bundle } from '@medplum/fhirtypes';
import { VersionConflictError } from '../../src/errors.js';
import type { WriteOp } from '../../src/store/engine.js';
import { buildTestServer } from '../helpers/server.js';

/**
 * A PUT whose commit finds that another server wrote the resource first is
 * redone on the new version (resource-turns.ts): judged again, but one access,
 * so one entry in the audit trail. Another server is stood for by the store
 * refusing the first commits as it would (two replicas cannot share the
 * embedded store), each after a pause longer than the audit log's batching,
 * which otherwise folds the same decision of one request into one row.
 */
t.test('a write redone after another server\'s write is audited once', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': 'application/fhir+json' };
  const created = await app.inject({ method: 'PUT', url: '/fhir/Patient/retry1', headers, payload: { resourceType: 'Patient', id: 'retry1', gender: 'female' } });
  t.equal(created.statusCode, 201);

  const engine = app.repository.engine;
  const commit = engine.commit.bind(engine);
  let refusals = 0;
  engine.commit = async (ops: WriteOp[]) => {
    if (refusals < 2 && ops.some((op) => op.record.id === 'retry1')) {
      refusals++;
      // Slower than the audit log's 50 ms batches: each attempt's decision would land in a batch of its own.
      await new Promise((resolve) => setTimeout(resolve, 150));
      throw new VersionConflictError('Patient/retry1 changed meanwhile');
    }
    return commit(ops);
  };
  const updated = await app.inject({ method: 'PUT', url: '/fhir/Patient/retry1', headers, payload: { resourceType: 'Patient', id: 'retry1', gender: 'male' } });
  engine.commit = commit;
  t.equal(updated.statusCode, 200, 'redone twice, then committed');
  t.equal(refusals, 2);

  const trail = await app.inject({ url: `/fhir/AuditEvent?entity=Patient/retry1&subtype=update&site=${updated.headers['x-request-id'] as string}`, headers: { authorization } });
  t.equal((trail.json() as Bundle).entry?.length, 1, 'one AuditEvent for the update, not one per attempt');
});
