import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { MongoClient, type Db } from 'mongodb';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import { createMongoEngine } from '../../src/store/mongodb/mongo-engine.js';
import { PayloadTooLargeError } from '../../src/errors.js';
import { create, observation, runEngineContract, type MakeEngine } from '../helpers/engine-contract.js';

const quiet = { warn: () => undefined, info: () => undefined };

const makeEmbedded: MakeEngine = async (t, clock) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'carnet-engine-'));
  const opened: Array<{ close(): Promise<void> }> = [];
  t.teardown(async () => {
    for (const engine of opened) await engine.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const start = async () => {
    const engine = createEmbeddedEngine({ dataDir, log: quiet, now: clock.now });
    await engine.open();
    opened.push(engine);
    return engine;
  };
  return { engine: await start(), reopen: start };
};

t.test('embedded engine', async (t) => {
  runEngineContract(t, makeEmbedded);
});

const mongoUrl = process.env.MONGODB_URL;
if (!mongoUrl) {
  t.comment('MongoDB engine: SKIPPED (set MONGODB_URL to run the contract suite against MongoDB)');
} else {
  t.test('MongoDB engine', async (t) => {
    const client = new MongoClient(mongoUrl);
    await client.connect();
    t.teardown(() => client.close());
    const makeMongo: MakeEngine = async (t, clock) => {
      const dbName = `carnet_contract_${randomUUID().slice(0, 8)}`;
      t.teardown(() => client.db(dbName).dropDatabase());
      const start = async () => {
        const engine = createMongoEngine({ url: mongoUrl, dbName, client, now: clock.now });
        await engine.open();
        return engine;
      };
      return { engine: await start(), reopen: start };
    };
    runEngineContract(t, makeMongo);
  });
}

// Checked before anything reaches the server, so it runs here without one.
t.test('MongoDB engine: a version over its 16 MiB document limit is a 413, before any write', async (t) => {
  const engine = createMongoEngine({ url: 'mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200', dbName: 'carnet_never_opened' });
  t.teardown(() => engine.close());
  const record = observation({ id: 'huge', patient: 'p1', code: '8867-4' });
  record.json = JSON.stringify({ resourceType: 'Observation', id: 'huge', note: [{ text: 'x'.repeat(17 * 1024 * 1024) }] });
  await t.rejects(engine.commit([create(record)]), PayloadTooLargeError);
});

// Settings only (nothing reaches a server): a URL asking for less durability does not get it.
t.test('MongoDB engine: writes wait for a majority of journals even when MONGODB_URL asks for w=1', async (t) => {
  const engine = createMongoEngine({ url: 'mongodb://127.0.0.1:9/?w=1&journal=false&serverSelectionTimeoutMS=200', dbName: 'carnet_never_opened' });
  t.teardown(() => engine.close());
  const { db } = engine as unknown as { db: Db };
  t.match(db.writeConcern, { w: 'majority', journal: true, wtimeoutMS: 10_000 });
  t.match(db.collection('kv').writeConcern, { w: 'majority', journal: true, wtimeoutMS: 10_000 }, 'collections (key-value store, GridFS) inherit it');
  t.equal(db.readPreference.mode, 'primary');
});

t.test('MongoDB engine: a commit is a transaction that waits for a majority of journals, from the primary, even when MONGODB_URL asks for w=1', async (t) => {
  const client = new MongoClient('mongodb://127.0.0.1:9/?w=1&serverSelectionTimeoutMS=200');
  t.teardown(() => client.close());
  // No MongoDB runs here: the session only records what the engine asks of it.
  const asked: unknown[] = [];
  client.startSession = (() => ({
    withTransaction: async (_work: unknown, options: unknown) => { asked.push(options); },
    endSession: async () => undefined,
  })) as unknown as MongoClient['startSession'];
  const engine = createMongoEngine({ url: 'mongodb://unused', dbName: 'carnet_never_opened', client });
  await engine.commit([create(observation({ id: 'o1', patient: 'p1', code: '8867-4' }))]);
  t.match(asked, [{ writeConcern: { w: 'majority', journal: true, wtimeoutMS: 10_000 }, readPreference: 'primary' }]);
});

// Nothing listens on port 9: the driver gives up selecting a server after 200 ms, as it would with the database down.
t.test('MongoDB engine: a database that cannot be reached is a 503 to retry, not a 500; start-up keeps the driver\'s own words', async (t) => {
  const engine = createMongoEngine({ url: 'mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200', dbName: 'carnet_never_opened' });
  t.teardown(() => engine.close());
  for (const [name, attempt] of [
    ['read', () => engine.current('Patient', 'p1')],
    ['commit', () => engine.commit([create(observation({ id: 'o1', patient: 'p1', code: '8867-4' }))])],
    ['key-value read', () => engine.kv.get('ns', 'key')],
    ['blob read', () => engine.blobs.open('0123456789abcdef01234567')],
  ] as const) {
    const err = await (attempt() as Promise<unknown>).then(() => undefined, (e: unknown) => e);
    t.match(err, { statusCode: 503, code: 'FHIR_ERR_STORE_UNAVAILABLE', headers: { 'retry-after': '5' } }, name);
    t.match((err as Error).cause, { name: /^Mongo(ServerSelection|TopologyClosed)Error$/ }, `${name}: the driver's error is kept as the cause`);
  }
  t.equal(await engine.isReady(), false);
  await t.rejects(engine.open(), { name: 'MongoServerSelectionError' });
});
