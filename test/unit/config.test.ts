import { availableParallelism } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config.js';

t.test('defaults: a server on 127.0.0.1:8080 with its data in ./data', async (t) => {
  const config = loadConfig({});
  t.equal(config.host, '127.0.0.1');
  t.equal(config.port, 8080);
  t.equal(config.dataDir, path.resolve('./data'));
  t.equal(config.publicUrl, 'http://127.0.0.1:8080');
  t.equal(config.fhirBase, 'http://127.0.0.1:8080/fhir');
  t.equal(config.mongodbUrl, undefined);
  t.equal(config.logLevel, 'info');
  t.equal(config.auditMaxBacklog, 100_000);
  t.equal(config.shutdownGraceSeconds, 8, 'a stop fits in Docker\'s 10 s');
  t.equal(config.writeWorkers, availableParallelism() > 1 ? 1 : 0, 'one write worker when there is a core to spare');
  t.ok(Object.isFrozen(config), 'read once, never changed');
});

t.test('the environment sets every value; the public URL loses its trailing slash', async (t) => {
  const config = loadConfig({
    HOST: '0.0.0.0', PORT: '9090', PUBLIC_URL: 'https://carnet.example/', DATA_DIR: '/srv/carnet', MONGODB_URL: 'mongodb://db:27017/?replicaSet=rs0',
    LOG_LEVEL: 'warn', AUDIT_MAX_BACKLOG: '0', WRITE_WORKERS: '3', BUNDLE_MAX_ENTRIES: '100', REQUIRED_PROFILES: 'DocumentReference=https://carnet.dev/fhir/StructureDefinition/carnet-document',
    SHUTDOWN_GRACE_SECONDS: '25',
  });
  t.equal(config.shutdownGraceSeconds, 25);
  t.equal(config.port, 9090);
  t.equal(config.publicUrl, 'https://carnet.example');
  t.equal(config.fhirBase, 'https://carnet.example/fhir');
  t.equal(config.dataDir, '/srv/carnet');
  t.equal(config.mongodbUrl, 'mongodb://db:27017/?replicaSet=rs0');
  t.equal(config.logLevel, 'warn');
  t.equal(config.auditMaxBacklog, 0);
  t.equal(config.writeWorkers, 3);
  t.equal(config.bundleMaxEntries, 100);
  t.same(config.requiredProfiles, { DocumentReference: ['https://carnet.dev/fhir/StructureDefinition/carnet-document'] });
});

t.test('wrong values stop the start with every problem listed', async (t) => {
  let message = '';
  try {
    loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud', AUDIT_MAX_BACKLOG: '-1', MONGODB_URL: 'postgres://x', WRITE_WORKERS: 'many', SHUTDOWN_GRACE_SECONDS: 'soon' });
  } catch (err) {
    message = (err as Error).message;
  }
  t.match(message, /^Invalid configuration:/);
  for (const field of ['/port', '/logLevel', '/auditMaxBacklog', '/mongodbUrl', '/writeWorkers', 'SHUTDOWN_GRACE_SECONDS="soon"']) t.match(message, field);
});

t.test('overrides win over the environment, and the FHIR base follows an overridden public URL', async (t) => {
  const config = loadConfig({ PORT: '9090', PUBLIC_URL: 'http://ignored' }, { port: 0, publicUrl: 'http://carnet.test' });
  t.equal(config.port, 0);
  t.equal(config.fhirBase, 'http://carnet.test/fhir');
});

t.test('the body limit leaves room for the largest Binary sent as FHIR JSON, unless BODY_LIMIT says otherwise', async (t) => {
  const MiB = 1024 * 1024;
  const base64Size = (bytes: number) => Math.ceil(bytes / 3) * 4;
  const defaults = loadConfig({});
  t.ok(defaults.bodyLimit > base64Size(defaults.binaryMaxBytes), `20 MiB in base64 (${base64Size(defaults.binaryMaxBytes)} bytes) fits in ${defaults.bodyLimit}`);
  t.equal(loadConfig({ BINARY_MAX_BYTES: String(MiB) }).bodyLimit, 25 * MiB, 'never below 25 MiB');
  t.ok(loadConfig({ BINARY_MAX_BYTES: String(60 * MiB) }).bodyLimit > base64Size(60 * MiB), 'follows a larger BINARY_MAX_BYTES');
  t.equal(loadConfig({ BODY_LIMIT: String(2 * MiB) }).bodyLimit, 2 * MiB, 'BODY_LIMIT wins');
  t.equal(loadConfig({}, { bodyLimit: 4096 }).bodyLimit, 4096, 'and so does an override');
});

t.test('a wrong value is named as the operator set it: the variable and its value', async (t) => {
  let message = '';
  try {
    loadConfig({ BINARY_MAX_BYTES: '-5', PORT: 'eighty' });
  } catch (err) {
    message = (err as Error).message;
  }
  t.match(message, 'BINARY_MAX_BYTES="-5" (/binaryMaxBytes) must be a whole number');
  t.match(message, 'PORT="eighty" (/port) must be a whole number');
});
