import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Query } from 'mingo';
import t from 'tap';
import type { Test } from 'tap';
import { PayloadTooLargeError } from '../../src/errors.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import type { Filter, StoreEngine, VersionRecord } from '../../src/store/engine.js';
import { create, observation, tombstone } from '../helpers/engine-contract.js';

async function openTemp(t: Test): Promise<{ engine: StoreEngine; dataDir: string }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'carnet-index-'));
  const engine = createEmbeddedEngine({ dataDir, log: { warn: () => undefined, info: () => undefined } });
  await engine.open();
  t.teardown(async () => {
    await engine.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { engine, dataDir };
}

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

/**
 * Enough that the postings of a patient, a code or a status pass from a Set
 * to one bit per item (OrdinalBits: from 512 members), and that moves and
 * deletions then take items out of bits.
 */
const ITEMS = 3000;

t.test('secondary indexes only narrow: results equal a full scan for every filter shape', async (t) => {
  const { engine } = await openTemp(t);
  const rnd = random(42);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const patients = ['p1', 'p2', 'p3', 'p4', 'p5'];
  const codes = ['29463-7', '8867-4', '8302-2', '85354-9'];
  const live = new Map<string, VersionRecord>();
  const batch = [];
  for (let i = 0; i < ITEMS; i++) {
    const r = observation({ id: `o${i}`, patient: pick(patients), code: pick(codes), value: Math.floor(rnd() * 100),
      ...(rnd() < 0.8 ? { date: new Date(Date.UTC(2024, 0, 1) + Math.floor(rnd() * 365) * 86_400_000).toISOString() } : {}) });
    batch.push(create(r));
    live.set(r.id, r);
  }
  await engine.commit(batch);
  // Move some to other patients and codes, delete others: indexes must follow.
  for (let i = 0; i < ITEMS; i += 7) {
    const old = live.get(`o${i}`)!;
    if (i % 2 === 0) {
      const gone = tombstone(old);
      await engine.commit([{ record: gone, expectVid: old.vid }]);
      live.delete(old.id);
    } else {
      const moved = { ...observation({ id: old.id, vid: old.vid + 1, patient: pick(patients), code: pick(codes), value: 1 }) };
      await engine.commit([{ record: moved, expectVid: old.vid }]);
      live.set(old.id, moved);
    }
  }
  // Bring half of the deleted ones back, elsewhere: an index entry must come back with them, once.
  for (let i = 0; i < ITEMS; i += 28) {
    const revived = observation({ id: `o${i}`, vid: 3, patient: pick(patients), code: pick(codes), value: Math.floor(rnd() * 100) });
    await engine.commit([{ record: revived, expectVid: 2 }]);
    live.set(revived.id, revived);
  }
  const sc = (c: string) => `http://loinc.org|${c}`;
  // Two codings on one resource: an $elemMatch on two fields must hold on the same coding.
  for (let i = 0; i < 20; i++) {
    const [c1, c2] = [pick(codes), pick(codes)];
    const base = observation({ id: `two${i}`, patient: pick(patients), code: c1 });
    const r: VersionRecord = { ...base, idx: { ...base.idx, code: [{ s: 'http://loinc.org', c: c1, sc: sc(c1) }, { s: 'urn:other', c: c2, sc: `urn:other|${c2}` }] } };
    await engine.commit([create(r)]);
    live.set(r.id, r);
  }
  const filters: Filter[] = [];
  for (let i = 0; i < 25; i++) {
    const p = pick(patients);
    const c = pick(codes);
    filters.push(
      { 'idx.subject.r': `Patient/${p}`, 'idx.code.sc': sc(c) },
      { comp: `Patient/${p}`, 'idx.code.sc': { $in: [sc(c), sc(pick(codes))] } },
      { $and: [{ 'idx.patient.i': p }, { 'idx.value-quantity.n': { $gte: Math.floor(rnd() * 100) } }] },
      { $or: [{ 'idx.code.sc': sc(c) }, { 'idx.subject.r': `Patient/${p}` }] },
      { $or: [{ 'idx.code.sc': sc(c) }, { 'idx.value-quantity.n': { $lt: 10 } }] },
      { 'idx.code': { $elemMatch: { sc: sc(c), c } }, 'idx.subject.r': { $eq: `Patient/${p}` } },
      { id: { $in: [`o${Math.floor(rnd() * ITEMS)}`, `o${Math.floor(rnd() * ITEMS)}`] }, 'idx.code.sc': { $ne: sc(c) } },
      { 'idx.code.sc': { $nin: [sc(c)] }, comp: { $in: [`Patient/${p}`] } },
      { 'idx.code.sc': sc(c), 'idx.date': { $exists: false } },
      { 'idx.code.sc': sc(c), 'idx.subject.r': 'Patient/nobody' },
      // Shapes the index answers in full (no filter test on the candidates):
      { 'idx.code': { $elemMatch: { sc: sc(c) } } },
      { $and: [{}, { 'idx.patient.i': p }, { 'idx.code.c': { $in: [c, pick(codes)] } }] },
      { 'idx.code.sc': { $in: [] } },
      { id: `o${Math.floor(rnd() * ITEMS)}` },
      { $or: [{ id: { $in: [`o${Math.floor(rnd() * ITEMS)}`, `two${Math.floor(rnd() * 20)}`] } }, { comp: `Patient/${p}`, 'idx.code.c': c }] },
      // ... and shapes it must not (several fields of one element, other operators inside or beside):
      { $or: [{ 'idx.code.c': c }, { 'idx.code.sc': sc(pick(codes)) }], 'idx.value-quantity.n': { $gte: Math.floor(rnd() * 100) } },
      { $or: [{ $or: [{ 'idx.code.c': c }, { comp: `Patient/${p}` }], 'idx.value-quantity.n': { $lt: 50 } }, { 'idx.patient.i': pick(patients) }] },
      { 'idx.code.c': { $in: [c, pick(codes)], $nin: [c] } },
      { comp: { $eq: `Patient/${p}`, $ne: `Patient/${p}` } },
      { 'idx.code': { $elemMatch: { c }, $size: 1 } },
      { 'idx.code': { $elemMatch: { sc: `urn:other|${c}`, c: pick(codes) } } },
      { 'idx.code': { $elemMatch: { sc: sc(c), c: { $ne: c } } } },
      { $or: [{ 'idx.patient.i': p }, { 'idx.code.sc': { $ne: sc(c) } }] },
      { 'idx.patient.i': p, $nor: [{ 'idx.code.c': c }] },
    );
  }
  const all = [...live.values()];
  let checked = 0;
  for (const filter of filters) {
    const query = new Query(filter as never);
    const expected = all.filter((r) => query.test(r as never)).map((r) => r.id).sort();
    const found = (await engine.find({ types: ['Observation'], filter, sort: [['id', 1]], limit: 10 * ITEMS })).map((r) => r.id);
    if (JSON.stringify(found) !== JSON.stringify(expected)) t.same(found, expected, JSON.stringify(filter));
    else checked++;
    t.equal(await engine.count({ types: ['Observation'], filter }), expected.length);
  }
  t.equal(checked, filters.length, 'every filter gives the full-scan answer');
});

t.test('a blob over the limit leaves no file behind', async (t) => {
  const { engine, dataDir } = await openTemp(t);
  const kept = await engine.blobs.put((async function* () { yield Buffer.from('small'); })(), { maxBytes: 10 });
  async function* big() {
    for (let i = 0; i < 10; i++) yield Buffer.alloc(1000, i);
  }
  await t.rejects(engine.blobs.put(big(), { maxBytes: 5000 }), PayloadTooLargeError);
  t.same((await readdir(path.join(dataDir, 'blobs'))).sort(), [kept.key, `${kept.key}.json`].sort());
});
