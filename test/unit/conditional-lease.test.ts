import t from 'tap';
import type { Test } from 'tap';
import type { Patient } from '@medplum/fhirtypes';
import { runWithLease } from '../../src/store/conditional-lease.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import type { StoreEngine } from '../../src/store/engine.js';
import { Repository } from '../../src/store/repository.js';
import { tempDir } from '../helpers/tokens.js';
import { testClock } from '../helpers/engine-contract.js';

const quiet = { warn: () => undefined, info: () => undefined };

async function openEngine(t: Test, now?: () => number): Promise<StoreEngine> {
  const engine = createEmbeddedEngine({ dataDir: await tempDir(t, 'carnet-lease-'), log: quiet, now });
  await engine.open();
  t.teardown(() => engine.close());
  return engine;
}

/** A server's repository; two of them over one engine stand for two replicas on one MongoDB. */
const replica = (engine: StoreEngine, conditionalLease: boolean) =>
  new Repository({ engine, validate: () => [], search: { defaultCount: 20, maxCount: 100 }, conditionalLease });

const patient: Patient = { resourceType: 'Patient', identifier: [{ system: 'urn:carnet:test:lease', value: 'p1' }] };
const ifNoneExist = 'identifier=urn:carnet:test:lease|p1';

t.test('two servers on one store, with the lease: concurrent conditional creates create once', async (t) => {
  const engine = await openEngine(t);
  const servers = [replica(engine, true), replica(engine, true)];
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => servers[i % 2]!.create(patient, { ifNoneExist })));
  t.equal(results.filter((r) => r.created).length, 1, 'one created');
  t.equal(new Set(results.map((r) => r.record.id)).size, 1, 'every answer names it');
  const found = await servers[0]!.search(servers[0]!.parseSearch(['Patient'], [['identifier', 'urn:carnet:test:lease|p1']], true));
  t.equal(found.matches.length, 1);
  t.equal(await engine.kv.get('conditional-lease', 'all'), undefined, 'the lease was given back');
});

t.test('the embedded engine takes no lease by default: one server, its own queue', async (t) => {
  const engine = await openEngine(t);
  const seen: string[] = [];
  const putIfAbsent = engine.kv.putIfAbsent.bind(engine.kv);
  engine.kv.putIfAbsent = async (ns, key, value, options) => {
    seen.push(ns);
    return putIfAbsent(ns, key, value, options);
  };
  const server = new Repository({ engine, validate: () => [], search: { defaultCount: 20, maxCount: 100 } });
  const results = await Promise.all(Array.from({ length: 4 }, () => server.create(patient, { ifNoneExist })));
  t.equal(results.filter((r) => r.created).length, 1);
  t.same(seen, [], 'no key-value write per conditional interaction');
});

t.test('a lease whose holder stopped is taken once it expires; a failed turn gives it back', async (t) => {
  const clock = testClock();
  const engine = await openEngine(t, clock.now);
  // What a server that stopped in its turn leaves behind.
  await engine.kv.put('conditional-lease', 'all', 'a stopped server', { expiresAt: clock.now() + 60_000 });
  let ran = false;
  const waiting = runWithLease(engine.kv, async () => {
    ran = true;
    return 'done';
  }, { ttlMs: 60_000, now: clock.now });
  await new Promise((r) => setTimeout(r, 50));
  t.equal(ran, false, 'waits while the lease is live');
  clock.advance(60_000);
  t.equal(await waiting, 'done', 'runs once it expired');
  t.equal(await engine.kv.get('conditional-lease', 'all'), undefined);

  await t.rejects(runWithLease(engine.kv, async () => {
    throw new Error('the work failed');
  }, { ttlMs: 60_000, now: clock.now }), /the work failed/);
  t.equal(await engine.kv.get('conditional-lease', 'all'), undefined, 'given back after a failure');
});

/** A turn that keeps the lease until `end()`; `holding` resolves once it has it. */
function heldTurn(kv: StoreEngine['kv'], options: { ttlMs: number; now: () => number }) {
  let end!: () => void;
  let held!: () => void;
  const holding = new Promise<void>((r) => (held = r));
  const done = runWithLease(kv, () => new Promise<void>((r) => {
    held();
    end = r;
  }), options);
  return { holding, done, end: () => end() };
}

t.test('a holder past its lease, giving it back late, leaves the next holder its turn', async (t) => {
  const clock = testClock();
  const engine = await openEngine(t, clock.now);
  const options = { ttlMs: 1000, now: clock.now };
  const first = heldTurn(engine.kv, options);
  await first.holding;
  clock.advance(1000);
  const second = heldTurn(engine.kv, options);
  await second.holding;
  first.end();
  await first.done;
  t.not(await engine.kv.get('conditional-lease', 'all'), undefined, "the late release left the second holder's lease");
  second.end();
  await second.done;
  t.equal(await engine.kv.get('conditional-lease', 'all'), undefined);
});

t.test('a server that waited twice the lease life answers 503', async (t) => {
  const clock = testClock();
  const engine = await openEngine(t, clock.now);
  // A lease set by a server whose clock runs far ahead of this one's.
  await engine.kv.put('conditional-lease', 'all', 'a server ahead', { expiresAt: clock.now() + 10_000 });
  const waiting = runWithLease(engine.kv, async () => 'never', { ttlMs: 1000, now: clock.now });
  await new Promise((r) => setTimeout(r, 20));
  clock.advance(2001);
  await t.rejects(waiting, { code: 'FHIR_ERR_STORE_BUSY', statusCode: 503, headers: { 'retry-after': '1' } });
});

// Two servers on one store take a Binary's turn one after the other: the document content rules
// (space/documents/document-content.ts) judge a document and the deletion of its Binary in it.
t.test('two servers on one store, with the lease: a Binary\'s turn is one turn across them', async (t) => {
  const engine = await openEngine(t);
  const [a, b] = [replica(engine, true), replica(engine, true)];
  const events: string[] = [];
  const turn = (server: Repository, name: string, key: string) => server.turns.run(key, async () => {
    events.push(`${name} in`);
    await new Promise((resolve) => setTimeout(resolve, 30));
    events.push(`${name} out`);
  });
  await Promise.all([turn(a, 'a', 'Binary/x'), turn(b, 'b', 'Binary/x')]);
  t.same(events.slice(0, 2), [events[0], events[0]!.replace('in', 'out')], 'the second server entered once the first was out');
  t.equal(await engine.kv.get('conditional-lease', 'turn:Binary/x'), undefined, 'the lease was given back');

  // Other resources' turns stay each server's own: their writes are judged by the engine's version check.
  events.length = 0;
  await Promise.all([turn(a, 'a', 'Patient/p'), turn(b, 'b', 'Patient/p')]);
  t.same(events.slice(0, 2), ['a in', 'b in'], 'no lease for a Patient');

  // Without the lease (one server on its embedded store), nothing is written for a turn.
  const single = replica(engine, false);
  const seen: string[] = [];
  const putIfAbsent = engine.kv.putIfAbsent.bind(engine.kv);
  engine.kv.putIfAbsent = async (ns, key, value, options) => {
    seen.push(`${ns}/${key}`);
    return putIfAbsent(ns, key, value, options);
  };
  await turn(single, 'single', 'Binary/x');
  t.same(seen, [], 'no key-value write');
});
