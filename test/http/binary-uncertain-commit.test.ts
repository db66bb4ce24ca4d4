import t from 'tap';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { FhirError, VersionConflictError } from '../../src/errors.js';
import { buildServer } from '../../src/server.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import type { StoreEngine, WriteOp } from '../../src/store/engine.js';
import { bearer, createTestClient, tempDir, writeClientsFile } from '../helpers/tokens.js';

/**
 * When the store cannot tell whether a commit landed (MongoDB: no majority in
 * time, a commit whose result is unknown; both a 503), the Binary's bytes are
 * kept, since its resource may exist; when the commit surely failed, they go.
 */
t.test('a Binary\'s bytes outlive a commit that may have landed, not one that surely failed', async (t) => {
  const dataDir = await tempDir(t, 'carnet-uncertain-');
  const client = await createTestClient({ scope: 'system/*.cruds' });
  const config = loadConfig({}, { dataDir, clientsFile: await writeClientsFile(dataDir, [client]), publicUrl: 'http://carnet.test', logLevel: 'silent', writeWorkers: 0 });
  const embedded = createEmbeddedEngine({ dataDir, log: { warn: () => undefined, info: () => undefined } });
  await embedded.open();
  let failNext: Error | undefined;
  const engine = new Proxy(embedded, {
    get(target, property) {
      if (property === 'commit') {
        return async (ops: WriteOp[]) => {
          const err = failNext;
          failNext = undefined;
          if (err) throw err;
          return target.commit(ops);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  }) as StoreEngine;
  const app = await buildServer({ config, logger: false, engine });
  t.teardown(async () => {
    await app.close();
    await embedded.close();
  });
  await app.ready();
  const authorization = await bearer(app, client, 'system/*.cruds');
  const blobFiles = async () => (await readdir(path.join(dataDir, 'blobs'), { recursive: true, withFileTypes: true })).filter((d) => d.isFile() && !d.name.startsWith('.tmp-') && !d.name.endsWith('.json')).length;
  const post = () => app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'application/pdf' }, payload: Buffer.from('%PDF-1.4 a report') });

  const before = await blobFiles();
  failNext = new FhirError('FHIR_ERR_STORE_UNAVAILABLE', 503, 'transient', 'The database is unavailable; try again later');
  t.equal((await post()).statusCode, 503);
  const afterUnknown = await blobFiles();
  t.equal(afterUnknown, before + 1, `outcome unknown: the bytes are kept (${before} -> ${afterUnknown})`);

  failNext = new VersionConflictError('Binary/x already exists');
  t.equal((await post()).statusCode, 409);
  t.equal(await blobFiles(), before + 1, 'a definite failure leaves no bytes behind');

  t.equal((await post()).statusCode, 201, 'and the next write works');
});
