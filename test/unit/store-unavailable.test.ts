import Fastify from 'fastify';
import t from 'tap';
import { FhirError } from '../../src/errors.js';
import { sendOAuthError } from '../../src/routes/auth.js';
import { processBundle, type BundleContext } from '../../src/store/bundle-processor.js';
import { createMongoEngine } from '../../src/store/mongodb/mongo-engine.js';
import { Repository } from '../../src/store/repository.js';

// Nothing listens on port 9: the driver gives up selecting a server after 200 ms, as it would with the database down.
const UNREACHABLE = 'mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200';

t.test('a batch ends with the 503 at its first entry when the store is unavailable, instead of waiting for every entry', async (t) => {
  const engine = createMongoEngine({ url: UNREACHABLE, dbName: 'carnet_never_opened' });
  t.teardown(() => engine.close());
  const repository = new Repository({ engine, validate: () => [], search: { defaultCount: 20, maxCount: 100 } });
  const context: BundleContext = {
    fhirBase: 'http://example.org/fhir', maxEntries: 100, binaryMaxBytes: 1024,
    authorize: async () => undefined, writeCheck: () => async () => undefined,
    read: async () => ({ response: { status: '200' } }),
  };
  const entries = Array.from({ length: 20 }, (_, i) => ({ resource: { resourceType: 'Patient', id: `p${i}` }, request: { method: 'PUT', url: `Patient/p${i}` } }));
  const started = Date.now();
  const err = await processBundle(repository, { resourceType: 'Bundle', type: 'batch', entry: entries }, context).then(() => undefined, (e: unknown) => e);
  t.match(err, { statusCode: 503, code: 'FHIR_ERR_STORE_UNAVAILABLE' });
  t.ok(Date.now() - started < 20 * 200, 'not one server selection per entry');
});

t.test('the OAuth endpoints answer an unavailable store with 503 temporarily_unavailable and Retry-After', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  app.setErrorHandler((err, request, reply) => sendOAuthError(err as Error, request, reply));
  app.post('/token', async () => {
    throw new FhirError('FHIR_ERR_STORE_UNAVAILABLE', 503, 'transient', 'The database is unavailable; try again later', { headers: { 'retry-after': '5' } });
  });
  const res = await app.inject({ method: 'POST', url: '/token' });
  t.equal(res.statusCode, 503);
  t.equal(res.headers['retry-after'], '5');
  t.same(res.json(), { error: 'temporarily_unavailable', error_description: 'The database is unavailable; try again later' });
});
