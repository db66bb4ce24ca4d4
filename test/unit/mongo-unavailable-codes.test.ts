import t from 'tap';
import { MongoOperationTimeoutError, MongoServerError } from 'mongodb';
import { isUnavailable } from '../../src/store/mongodb/mongo-unavailable.js';

// Answers a MongoDB replica set gives during a failover, a shutdown or past a query's time limit:
// a 503 the client may retry, never a 500. Others (a bad query, a duplicate key) stay what they are.
t.test('which MongoDB server errors mean "not now"', async (t) => {
  const server = (code: number, codeName: string) => new MongoServerError({ ok: 0, code, codeName, errmsg: codeName });
  for (const [code, name] of [[10107, 'NotWritablePrimary'], [11602, 'InterruptedDueToReplStateChange'], [91, 'ShutdownInProgress'],
    [189, 'PrimarySteppedDown'], [50, 'MaxTimeMSExpired'], [13436, 'NotPrimaryOrSecondary']] as const) {
    t.ok(isUnavailable(server(code, name)), `${name} is unavailability`);
  }
  t.ok(isUnavailable(new MongoOperationTimeoutError('Timed out')), 'a client-side timeout (timeoutMS) too');
  for (const [code, name] of [[11000, 'DuplicateKey'], [2, 'BadValue'], [51091, 'RegexCannotContainNull'], [17, 'QueryFeatureNotAllowed']] as const) {
    t.notOk(isUnavailable(server(code, name)), `${name} is not`);
  }
  t.notOk(isUnavailable(new Error('plain')), 'nor an error that is not the driver\'s');
});
