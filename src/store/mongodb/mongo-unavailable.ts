import {
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
} from 'mongodb';
import { FhirError } from '../../errors.js';

/**
 * Driver errors that say the database cannot be reached, or cannot
 * acknowledge a write now (no primary, no majority, a failover under way),
 * rather than that the request was wrong.
 */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof MongoError)) return false;
  return err instanceof MongoServerSelectionError || err instanceof MongoNetworkError || err instanceof MongoWriteConcernError
    || err instanceof MongoTopologyClosedError || err instanceof MongoNotConnectedError || err instanceof MongoOperationTimeoutError
    || (err instanceof MongoServerError && typeof err.code === 'number' && UNAVAILABLE_CODES.has(err.code))
    || err.hasErrorLabel('RetryableWriteError') || err.hasErrorLabel('TransientTransactionError') || err.hasErrorLabel('UnknownTransactionCommitResult');
}

/**
 * Server answers that say "not now" rather than "not this": a failover or
 * shutdown under way (a write the driver does not retry, such as GridFS's
 * deletes, gets them without a retry label) or a query out of time
 * (`maxTimeMS`, `timeoutMS`).
 */
const UNAVAILABLE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  50, // MaxTimeMSExpired
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

/** The engine's start-up and health check report the driver's own words: they are not answers to a FHIR request. */
const ENGINE_LEFT_AS_IS = new Set<PropertyKey>(['open', 'close', 'isReady']);

/**
 * `target` (the engine, and the key-value and blob stores it holds), with
 * every asynchronous failure of the database's availability turned into a
 * 503 that the client may retry, instead of a 500. The driver's message stays
 * in the cause, for the log.
 */
export function unavailableAs503<T extends object>(target: T, leftAsIs: ReadonlySet<PropertyKey> = ENGINE_LEFT_AS_IS): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object) as unknown;
      if (value === null || (typeof value !== 'function' && typeof value !== 'object')) return value;
      // Bound to the object itself, so that what it reaches through `this` is not translated either.
      if (leftAsIs.has(property)) return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(object) : value;
      if (!wrapped.has(property)) {
        wrapped.set(property, typeof value === 'function'
          ? (...args: unknown[]) => {
            const result = (value as (...a: unknown[]) => unknown).apply(object, args);
            return result instanceof Promise ? result.catch(rethrow) : result;
          }
          // The key-value and blob stores: all of their methods answer requests (blobs.open included).
          : unavailableAs503(value, new Set()));
      }
      return wrapped.get(property);
    },
  });
}

function rethrow(err: unknown): never {
  if (!isUnavailable(err)) throw err;
  throw new FhirError('FHIR_ERR_STORE_UNAVAILABLE', 503, 'transient', 'The database is unavailable; try again later', { cause: err, headers: { 'retry-after': '5' } });
}
