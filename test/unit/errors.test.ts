import t from 'tap';
import { ResourceNotFoundError } from '../../src/errors.js';

t.test('ResourceNotFoundError becomes a 404 not-found OperationOutcome', async (t) => {
  const err = new ResourceNotFoundError('Patient', 'x');
  t.equal(err.statusCode, 404);
  t.match(err.toOperationOutcome(), { resourceType: 'OperationOutcome', issue: [{ code: 'not-found', severity: 'error' }] });
});
