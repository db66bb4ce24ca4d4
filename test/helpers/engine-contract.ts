import { createHash } from 'node:crypto';
import type { Test } from 'tap';
import { PayloadTooLargeError, VersionConflictError } from '../../src/errors.js';
import type { Filter, StoreEngine, VersionRecord, WriteOp } from '../../src/store/engine.js';
import type { SearchIndex } from '../../src/fhir/search/index-types.js';

/** A clock tests move by hand (key-value expiry), instead of sleeping. */
export interface TestClock {
  now(): number;
  advance(ms: number): void;
}

/**
 * Starts a year ahead of the real time: MongoDB's TTL monitor deletes entries
 * by the real clock, once a minute, so an expiry this clock puts in the future
 * must be in the real future too, or an entry could vanish mid-test.
 */
export function testClock(start = Date.now() + 365 * 24 * 3600_000): TestClock {
  let now = start;
  return { now: () => now, advance: (ms) => void (now += ms) };
}

export interface EngineUnderTest {
  /** Opened, over fresh empty storage. */
  engine: StoreEngine;
  /** A new opened engine over the same storage; call it after closing `engine`. */
  reopen(): Promise<StoreEngine>;
}

/** Makes an engine for one subtest and registers its cleanup on `t`. */
export type MakeEngine = (t: Test, clock: TestClock) => Promise<EngineUnderTest>;

// ---------------------------------------------------------------------------
// Fixtures: VersionRecords shaped as store/repository.ts writes them.

const LOINC = 'http://loinc.org';
let sequence = 0;

/** Distinct, increasing write times, so history keys order as writes do. */
function stamp(): { ts: number; lastUpdated: string; hk: string } {
  sequence += 1;
  const ts = Date.UTC(2024, 0, 1) + sequence * 1000;
  const lastUpdated = new Date(ts).toISOString();
  return { ts, lastUpdated, hk: `${lastUpdated}|tx${sequence}|0` };
}

export interface ObservationFixture {
  id: string;
  vid?: number;
  patient: string;
  code: string;
  /** ISO date-time of effectiveDateTime; absent: no date index and no sort key. */
  date?: string;
  value?: number;
}

export function observation(f: ObservationFixture): VersionRecord {
  const vid = f.vid ?? 1;
  const { ts, lastUpdated, hk } = stamp();
  const resource = {
    resourceType: 'Observation',
    id: f.id,
    meta: { versionId: String(vid), lastUpdated },
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: LOINC, code: f.code }] },
    subject: { reference: `Patient/${f.patient}` },
    ...(f.date ? { effectiveDateTime: f.date } : {}),
    ...(f.value !== undefined ? { valueQuantity: { value: f.value, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' } } : {}),
  };
  const idx: SearchIndex = {
    status: [{ s: 'http://hl7.org/fhir/observation-status', c: 'final', sc: 'http://hl7.org/fhir/observation-status|final' }],
    category: [{ s: 'http://terminology.hl7.org/CodeSystem/observation-category', c: 'vital-signs', sc: 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs' }],
    code: [{ s: LOINC, c: f.code, sc: `${LOINC}|${f.code}` }],
    subject: [{ r: `Patient/${f.patient}`, t: 'Patient', i: f.patient }],
    patient: [{ r: `Patient/${f.patient}`, t: 'Patient', i: f.patient }],
    _lastUpdated: [{ lo: ts, hi: ts }],
  };
  const srt: VersionRecord['srt'] = { _lastUpdated: ts, '-_lastUpdated': ts };
  if (f.date) {
    const at = Date.parse(f.date);
    idx.date = [{ lo: at, hi: at + 999 }];
    srt.date = at;
    srt['-date'] = at + 999;
  }
  if (f.value !== undefined) {
    idx['value-quantity'] = [{ n: f.value, lo: f.value - 0.05, hi: f.value + 0.05, s: 'http://unitsofmeasure.org', c: 'kg', u: 'kg' }];
  }
  return {
    type: 'Observation', id: f.id, vid, ts, lastUpdated, hk, deleted: false,
    json: JSON.stringify(resource), idx, srt, comp: [`Patient/${f.patient}`],
    method: vid === 1 ? 'POST' : 'PUT',
  };
}

export function patient(id: string, family: string, given: string, vid = 1): VersionRecord {
  const { ts, lastUpdated, hk } = stamp();
  const resource = {
    resourceType: 'Patient', id, meta: { versionId: String(vid), lastUpdated },
    identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: `1${id.padStart(12, '0')}` }],
    name: [{ family, given: [given] }],
  };
  const fold = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
  return {
    type: 'Patient', id, vid, ts, lastUpdated, hk, deleted: false, json: JSON.stringify(resource),
    idx: {
      identifier: [{ s: 'urn:oid:1.2.250.1.213.1.4.8', c: `1${id.padStart(12, '0')}`, sc: `urn:oid:1.2.250.1.213.1.4.8|1${id.padStart(12, '0')}` }],
      family: [{ f: fold(family), x: family }],
      given: [{ f: fold(given), x: given }],
      name: [{ f: fold(family), x: family }, { f: fold(given), x: given }],
    },
    srt: { family: fold(family), '-family': fold(family) },
    comp: [`Patient/${id}`],
    method: vid === 1 ? 'POST' : 'PUT',
  };
}

export function tombstone(of: VersionRecord): VersionRecord {
  const { ts, lastUpdated, hk } = stamp();
  return { type: of.type, id: of.id, vid: of.vid + 1, ts, lastUpdated, hk, deleted: true, json: '', idx: {}, srt: {}, comp: [], method: 'DELETE' };
}

/** The next version of a record, with its own write time. */
export function nextVersion(of: VersionRecord): VersionRecord {
  const { ts, lastUpdated, hk } = stamp();
  const resource = JSON.parse(of.json) as { meta: { versionId: string; lastUpdated: string } };
  resource.meta = { versionId: String(of.vid + 1), lastUpdated };
  return { ...of, vid: of.vid + 1, ts, lastUpdated, hk, json: JSON.stringify(resource), method: 'PUT' };
}

export const create = (record: VersionRecord): WriteOp => ({ record, expectVid: 0 });
export const update = (record: VersionRecord): WriteOp => ({ record, expectVid: record.vid - 1 });

async function* chunksOf(bytes: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function readAll(stream: AsyncIterable<Buffer | Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

const ids = (records: VersionRecord[]) => records.map((r) => `${r.type}/${r.id}`);

// ---------------------------------------------------------------------------

/** The behaviour every StoreEngine must show, whatever keeps the data. */
export function runEngineContract(t: Test, makeEngine: MakeEngine): void {
  t.test('commit, current and version', async (t) => {
    const { engine } = await makeEngine(t, testClock());
    const v1 = patient('p1', 'Martin', 'Hélène');
    await engine.commit([create(v1)]);
    const v2 = nextVersion(v1);
    await engine.commit([update(v2)]);

    const current = await engine.current('Patient', 'p1');
    t.equal(current?.vid, 2);
    t.equal(current?.json, v2.json, 'the stored JSON text comes back byte for byte');
    t.same(current?.idx, v2.idx);
    t.equal((await engine.version('Patient', 'p1', 1))?.json, v1.json, 'an older version stays readable');
    t.equal((await engine.version('Patient', 'p1', 2))?.hk, v2.hk);
    t.equal(await engine.version('Patient', 'p1', 3), undefined);
    t.equal(await engine.current('Patient', 'nobody'), undefined);
    t.equal(await engine.current('Observation', 'p1'), undefined, 'ids are per type');
    t.ok(await engine.isReady());
  });

  t.test('version conflicts write nothing', async (t) => {
    const { engine } = await makeEngine(t, testClock());
    const existing = patient('p1', 'Martin', 'Jean');
    await engine.commit([create(existing)]);

    await t.rejects(engine.commit([create(patient('p1', 'Other', 'Anne'))]), VersionConflictError, 'create over an existing id');
    await t.rejects(engine.commit([{ record: nextVersion(nextVersion(existing)), expectVid: 2 }]), VersionConflictError, 'stale expectVid');

    const fresh = observation({ id: 'o-new', patient: 'p1', code: '29463-7' });
    const stale = { record: nextVersion(existing), expectVid: 5 };
    const err = await engine.commit([create(fresh), stale]).catch((e: unknown) => e);
    t.type(err, VersionConflictError, 'a batch whose last op conflicts is refused');
    t.equal((err as VersionConflictError).statusCode, 409);
    t.equal(await engine.current('Observation', 'o-new'), undefined, 'its first op was not applied');
    t.equal((await engine.current('Patient', 'p1'))?.vid, 1);
    t.same(ids(await engine.history({ type: 'Observation', limit: 10 })), [], 'nor entered history');
    t.equal(await engine.count({ types: ['Observation'], filter: {} }), 0);
  });

  t.test('concurrent writers: one winner per version', async (t) => {
    const { engine } = await makeEngine(t, testClock());
    const base = patient('p1', 'Martin', 'Jean');
    await engine.commit([create(base)]);
    const attempts = Array.from({ length: 8 }, () => engine.commit([update(nextVersion(base))]));
    const outcomes = await Promise.allSettled(attempts);
    t.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, 'exactly one update of version 1 wins');
    for (const o of outcomes) if (o.status === 'rejected') t.type(o.reason, VersionConflictError);
    t.equal((await engine.current('Patient', 'p1'))?.vid, 2);

    const creates = Array.from({ length: 30 }, (_, i) => engine.commit([create(observation({ id: `c${i}`, patient: 'p1', code: '8867-4' }))]));
    await Promise.all(creates);
    t.equal(await engine.count({ types: ['Observation'], filter: {} }), 30, 'concurrent creates all land');
  });

  t.test('tombstones', async (t) => {
    const { engine } = await makeEngine(t, testClock());
    const obs = observation({ id: 'o1', patient: 'p1', code: '29463-7', value: 70 });
    await engine.commit([create(obs)]);
    const gone = tombstone(obs);
    await engine.commit([update(gone)]);

    const current = await engine.current('Observation', 'o1');
    t.equal(current?.deleted, true, 'current is the tombstone');
    t.equal(current?.vid, 2);
    t.same(await engine.find({ types: ['Observation'], filter: {}, sort: [], limit: 10 }), [], 'search skips deleted');
    t.same(await engine.find({ types: ['Observation'], filter: { 'idx.code.sc': `${LOINC}|29463-7` }, sort: [], limit: 10 }), [],
      'indexed search skips deleted');
    t.equal(await engine.count({ types: [], filter: { comp: 'Patient/p1' } }), 0);
    t.same((await engine.history({ type: 'Observation', id: 'o1', limit: 10 })).map((r) => [r.vid, r.deleted]), [[2, true], [1, false]]);
    await t.rejects(engine.commit([create(observation({ id: 'o1', patient: 'p1', code: '1' }))]), VersionConflictError,
      'a deleted id is not free: its tombstone is a version');
    const revived = { ...nextVersion({ ...gone, json: obs.json }), deleted: false, idx: obs.idx, srt: obs.srt, comp: obs.comp, method: 'PUT' as const };
    await engine.commit([update(revived)]);
    t.same(ids(await engine.find({ types: ['Observation'], filter: { comp: 'Patient/p1' }, sort: [], limit: 10 })), ['Observation/o1']);
  });

  t.test('history: newest first, filtered and paged', async (t) => {
    const { engine } = await makeEngine(t, testClock());
    const p = patient('p1', 'Martin', 'Jean');
    const o1 = observation({ id: 'o1', patient: 'p1', code: '29463-7' });
    const o2 = observation({ id: 'o2', patient: 'p1', code: '8867-4' });
    await engine.commit([create(p)]);
    await engine.commit([create(o1), create(o2)]);
    const o1b = nextVersion(o1);
    await engine.commit([update(o1b)]);
    const o1c = tombstone(o1b);
    await engine.commit([update(o1c)]);
    const all = [p, o1, o2, o1b, o1c];
    const keyOf = (r: VersionRecord) => `${r.type}/${r.id}/${r.vid}`;
    const newestFirst = [...all].sort((a, b) => (a.hk < b.hk ? 1 : -1)).map(keyOf);

    t.same((await engine.history({ limit: 100 })).map(keyOf), newestFirst, 'whole system');
    t.same((await engine.history({ type: 'Observation', limit: 100 })).map(keyOf), newestFirst.filter((k) => k.startsWith('Observation')));
    t.same((await engine.history({ type: 'Observation', id: 'o1', limit: 100 })).map(keyOf),
      ['Observation/o1/3', 'Observation/o1/2', 'Observation/o1/1']);
    const oldJson = (await engine.history({ type: 'Observation', id: 'o1', limit: 100 }))[2]?.json;
    t.equal(oldJson, o1.json, 'old versions carry their own JSON');

    const pages: string[][] = [];
    let afterKey: string | undefined;
    for (;;) {
      const page = await engine.history({ limit: 2, afterKey });
      if (page.length === 0) break;
      pages.push(page.map(keyOf));
      afterKey = page[page.length - 1]!.hk;
    }
    t.same(pages, [newestFirst.slice(0, 2), newestFirst.slice(2, 4), newestFirst.slice(4)], 'paging by afterKey');
    t.same((await engine.history({ since: o1b.ts, limit: 100 })).map(keyOf), [keyOf(o1c), keyOf(o1b)], 'since');
    t.same((await engine.history({ at: o2.ts, limit: 100 })).map(keyOf), newestFirst.slice(2), 'at');
    t.same((await engine.history({ since: o1.ts, at: o1b.ts, limit: 1 })).map(keyOf), [keyOf(o1b)], 'since + at + limit');
  });

  t.test('find: filters, sorts, limits and count', async (t) => {
    const { engine } = await makeEngine(t, testClock());
    const records = [
      patient('p1', 'Martin', 'Hélène'),
      patient('p2', 'Durand', 'Hector'),
      patient('p3', 'Petit', 'Anne'),
      observation({ id: 'o1', patient: 'p1', code: '29463-7', date: '2024-03-01T10:00:00Z', value: 71 }),
      observation({ id: 'o2', patient: 'p1', code: '29463-7', date: '2024-01-15T10:00:00Z', value: 72 }),
      observation({ id: 'o3', patient: 'p1', code: '8867-4', date: '2024-02-01T10:00:00Z' }),
      observation({ id: 'o4', patient: 'p2', code: '29463-7', date: '2024-02-20T10:00:00Z', value: 90 }),
      observation({ id: 'o5', patient: 'p2', code: '8302-2' }),
      observation({ id: 'o6', patient: 'p3', code: '29463-7', date: '2023-12-31T23:00:00Z', value: 55 }),
    ];
    await engine.commit(records.slice(0, 3).map(create));
    await engine.commit(records.slice(3).map(create));
    const find = async (types: string[], filter: Filter, sort: Array<[string, 1 | -1]> = [['type', 1], ['id', 1]], limit = 100) =>
      ids(await engine.find({ types, filter, sort, limit }));
    const weight = `${LOINC}|29463-7`;

    t.same(await find(['Observation'], { 'idx.code.sc': weight, 'idx.subject.r': 'Patient/p1' }),
      ['Observation/o1', 'Observation/o2'], 'patient + code equality');
    t.same(await find(['Observation'], { 'idx.code.sc': { $in: [`${LOINC}|8867-4`, `${LOINC}|8302-2`] } }),
      ['Observation/o3', 'Observation/o5'], '$in');
    t.same(await find(['Observation'], { 'idx.code.sc': { $nin: [weight] } }), ['Observation/o3', 'Observation/o5'], '$nin');
    t.same(await find(['Observation'], { 'idx.code.sc': { $ne: weight }, comp: 'Patient/p2' }), ['Observation/o5'], '$ne + comp');
    const feb = Date.parse('2024-02-01T00:00:00Z');
    t.same(await find(['Observation'], { 'idx.date': { $elemMatch: { lo: { $gte: feb }, hi: { $lt: Date.parse('2024-03-01T00:00:00Z') } } } }),
      ['Observation/o3', 'Observation/o4'], '$elemMatch with $gte/$lt ranges');
    t.same(await find(['Observation'], { 'idx.value-quantity': { $elemMatch: { n: { $gt: 70, $lte: 72 }, c: 'kg' } } }),
      ['Observation/o1', 'Observation/o2'], '$elemMatch on quantities with $gt/$lte');
    t.same(await find(['Observation'], { 'idx.date': { $exists: false } }), ['Observation/o5'], '$exists false');
    t.same(await find(['Observation'], { 'idx.value-quantity': { $exists: true }, 'idx.code.sc': weight, ts: { $gt: records[4]!.ts } }),
      ['Observation/o4', 'Observation/o6'], '$exists true + ts bound');
    t.same(await find(['Patient'], { 'idx.name.f': { $regex: '^he' } }), ['Patient/p1', 'Patient/p2'], 'anchored prefix $regex on folded text');
    t.same(await find(['Patient'], { 'idx.family.f': { $not: { $regex: '^mar' } } }), ['Patient/p2', 'Patient/p3'], '$not $regex');
    t.same(await find(['Patient'], { 'idx.family.f': 'petit' }), ['Patient/p3'], 'exact folded string');
    t.same(await find(['Observation'], { $or: [{ 'idx.subject.r': 'Patient/p3' }, { 'idx.code.sc': `${LOINC}|8302-2` }] }),
      ['Observation/o5', 'Observation/o6'], '$or');
    t.same(await find(['Observation'], { $and: [{ 'idx.patient.i': { $in: ['p1', 'p2'] } }, { $or: [{ 'idx.code.c': '8867-4' }, { 'idx.value-quantity.n': { $gte: 90 } }] }] }),
      ['Observation/o3', 'Observation/o4'], '$and over $or');
    t.same(await find(['Observation'], { 'idx.code': { $elemMatch: { s: LOINC, c: '8302-2' } } }), ['Observation/o5'], '$elemMatch on tokens');
    t.same(await find(['Observation', 'Patient'], { comp: 'Patient/p2' }), ['Observation/o4', 'Observation/o5', 'Patient/p2'], 'compartment, two types');
    t.same(await find([], { id: { $in: ['p3', 'o6', 'zz'] } }), ['Observation/o6', 'Patient/p3'], 'ids across all types');
    t.same(await find(['Patient'], { id: 'o1' }), [], 'id restricted to the types asked');
    t.same(await find(['Patient'], { 'idx.identifier.sc': `urn:oid:1.2.250.1.213.1.4.8|1${'p2'.padStart(12, '0')}` }), ['Patient/p2'], 'identifier token');
    t.same(await find(['Observation'], { 'idx.code.sc': 'http://loinc.org|none' }), [], 'no match');
    t.same(await find(['Encounter'], {}), [], 'unknown type');
    t.equal((await find([], {})).length, 9, 'empty filter, all types');

    t.same(await find(['Observation'], { 'idx.code.sc': weight }, [['srt.date', 1], ['type', 1], ['id', 1]]),
      ['Observation/o6', 'Observation/o2', 'Observation/o4', 'Observation/o1'], 'sort by date ascending');
    t.same(await find(['Observation'], {}, [['srt.-date', -1], ['type', 1], ['id', 1]]),
      ['Observation/o1', 'Observation/o4', 'Observation/o3', 'Observation/o2', 'Observation/o6', 'Observation/o5'],
      'sort descending; a record without the value comes last');
    t.same(await find(['Observation'], {}, [['srt.date', 1], ['type', 1], ['id', 1]]),
      ['Observation/o6', 'Observation/o2', 'Observation/o3', 'Observation/o4', 'Observation/o1', 'Observation/o5'],
      'sort ascending; a record without the value comes last');
    t.same(await find(['Patient'], {}, [['srt.family', -1], ['type', 1], ['id', 1]]), ['Patient/p3', 'Patient/p1', 'Patient/p2'], 'string sort');
    t.same(await find(['Observation'], {}, [['ts', -1], ['type', 1], ['id', 1]], 2), ['Observation/o6', 'Observation/o5'], 'limit');
    t.same(await find(['Observation'], {}, [['id', -1]], 0), [], 'limit 0');

    t.equal(await engine.count({ types: ['Observation'], filter: { 'idx.subject.r': 'Patient/p1' } }), 3);
    t.equal(await engine.count({ types: [], filter: { comp: { $in: ['Patient/p1', 'Patient/p3'] } } }), 6);
    t.equal(await engine.count({ types: ['Observation'], filter: { 'idx.code.sc': weight, ts: { $lt: 0 } } }), 0);

    // Updating a record moves it in every index: the old values no longer match.
    const moved = nextVersion(records[3]!);
    const o1Moved = observation({ id: 'o1', patient: 'p3', code: '8867-4' });
    await engine.commit([update({ ...moved, idx: o1Moved.idx, comp: o1Moved.comp, srt: o1Moved.srt })]);
    t.same(await find(['Observation'], { 'idx.code.sc': weight, 'idx.subject.r': 'Patient/p1' }), ['Observation/o2'], 'old index values dropped');
    t.same(await find(['Observation'], { comp: 'Patient/p3', 'idx.code.sc': `${LOINC}|8867-4` }), ['Observation/o1'], 'new index values found');
  });

  t.test('key-value store', async (t) => {
    const clock = testClock();
    const { engine } = await makeEngine(t, clock);
    const { kv } = engine;
    await kv.put('keys', 'k1', { kid: 'k1', alg: 'ES256' });
    t.same(await kv.get('keys', 'k1'), { kid: 'k1', alg: 'ES256' });
    const copy = await kv.get<{ kid: string }>('keys', 'k1');
    copy!.kid = 'changed';
    t.same(await kv.get('keys', 'k1'), { kid: 'k1', alg: 'ES256' }, 'reads return copies');
    t.equal(await kv.get('other', 'k1'), undefined, 'namespaces are separate');
    await kv.put('keys', 'k1', { kid: 'k1', alg: 'RS256' });
    t.same(await kv.get('keys', 'k1'), { kid: 'k1', alg: 'RS256' }, 'put replaces');

    await kv.put('codes', 'short', 'abc', { expiresAt: clock.now() + 60_000 });
    t.equal(await kv.get('codes', 'short'), 'abc');
    clock.advance(60_000);
    t.equal(await kv.get('codes', 'short'), undefined, 'expired entries are invisible');
    t.same(await kv.list('codes'), [], 'and not listed');

    t.equal(await kv.putIfAbsent('jti', 'j1', true, { expiresAt: clock.now() + 1000 }), true);
    t.equal(await kv.putIfAbsent('jti', 'j1', true), false, 'replay refused');
    clock.advance(1000);
    t.equal(await kv.putIfAbsent('jti', 'j1', 'again'), true, 'an expired entry counts as absent');
    t.equal(await kv.get('jti', 'j1'), 'again');
    const racers = await Promise.all(Array.from({ length: 6 }, () => kv.putIfAbsent('jti', 'race', 1)));
    t.equal(racers.filter(Boolean).length, 1, 'concurrent putIfAbsent: one winner');

    await kv.put('authz', 'code1', { sub: 'p1' }, { expiresAt: clock.now() + 5000 });
    const takers = await Promise.all([kv.take('authz', 'code1'), kv.take('authz', 'code1'), kv.take('authz', 'code1')]);
    t.same(takers.filter((v) => v !== undefined), [{ sub: 'p1' }], 'take hands a value out once');
    t.equal(await kv.get('authz', 'code1'), undefined);
    await kv.put('authz', 'code2', 'x', { expiresAt: clock.now() + 10 });
    clock.advance(10);
    t.equal(await kv.take('authz', 'code2'), undefined, 'an expired value cannot be taken');

    await kv.put('lease', 'l1', { owner: 'a' }, { expiresAt: clock.now() + 1000 });
    t.equal(await kv.deleteIf('lease', 'l1', { owner: 'b' }), false, 'deleteIf: another value stays');
    t.same(await kv.get('lease', 'l1'), { owner: 'a' });
    t.equal(await kv.deleteIf('lease', 'l1', { owner: 'a' }), true, 'deleteIf: the same value goes');
    t.equal(await kv.get('lease', 'l1'), undefined);
    t.equal(await kv.deleteIf('lease', 'l1', { owner: 'a' }), false, 'deleteIf: nothing to delete');
    await kv.put('lease', 'l2', 'mine', { expiresAt: clock.now() + 10 });
    clock.advance(10);
    t.equal(await kv.deleteIf('lease', 'l2', 'mine'), false, 'deleteIf: an expired value counts as absent');
    t.equal(await kv.putIfAbsent('lease', 'l2', 'theirs'), true);
    t.equal(await kv.deleteIf('lease', 'l2', 'mine'), false, 'deleteIf: the next holder keeps its value');
    t.equal(await kv.get('lease', 'l2'), 'theirs');

    // hasNow, where an engine offers it, answers as get does: live values only.
    if (kv.hasNow) {
      t.equal(kv.hasNow('keys', 'k1'), true, 'hasNow: a stored value');
      t.equal(kv.hasNow('other', 'k1'), false, 'hasNow: another namespace');
      t.equal(kv.hasNow('codes', 'short'), false, 'hasNow: an expired value');
      t.equal(kv.hasNow('authz', 'code1'), false, 'hasNow: a value taken');
    } else {
      t.comment(`${engine.kind} engine: no hasNow (its key-value store is not in memory)`);
    }
    await kv.put('list', 'a', 1);
    await kv.put('list', 'b', 2, { expiresAt: clock.now() + 100 });
    await kv.put('list', 'c', 3, { expiresAt: clock.now() + 1 });
    clock.advance(1);
    t.same((await kv.list<number>('list')).sort((x, y) => x.key.localeCompare(y.key)), [{ key: 'a', value: 1 }, { key: 'b', value: 2 }]);
    await kv.delete('list', 'a');
    await kv.delete('list', 'missing');
    t.same(await kv.list('list'), [{ key: 'b', value: 2 }]);
  });

  t.test('blobs', async (t) => {
    const { engine } = await makeEngine(t, testClock());
    const bytes = Buffer.alloc(300_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 251;
    const info = await engine.blobs.put(chunksOf(bytes, 16_384), { maxBytes: 1_000_000 });
    t.equal(info.size, bytes.length);
    t.equal(info.sha1, createHash('sha1').update(bytes).digest('base64'), 'SHA-1, base64');
    const opened = await engine.blobs.open(info.key);
    t.same(opened?.info, info);
    t.ok(opened && (await readAll(opened.stream)).equals(bytes), 'bytes round trip');
    // Ranges are inclusive at both ends, across chunk boundaries, up to the last byte.
    for (const [start, end] of [[0, 0], [16_380, 16_390], [123_456, 299_999], [299_999, 299_999], [0, 299_999]]) {
      const part = await engine.blobs.openRange(info.key, start, end);
      t.ok(part && (await readAll(part)).equals(bytes.subarray(start, end + 1)), `bytes ${start}-${end}`);
    }
    t.equal(await engine.blobs.openRange('not-a-key', 0, 1), undefined);

    const empty = await engine.blobs.put(chunksOf(Buffer.alloc(0), 1), { maxBytes: 10 });
    t.equal(empty.size, 0);
    t.equal(empty.sha1, createHash('sha1').digest('base64'));

    await t.rejects(engine.blobs.put(chunksOf(bytes, 10_000), { maxBytes: 50_000 }), PayloadTooLargeError, 'too large is refused');
    t.equal(await engine.blobs.open('not-a-key'), undefined);
    await engine.blobs.delete(info.key);
    t.equal(await engine.blobs.open(info.key), undefined, 'deleted');
    t.equal(await engine.blobs.openRange(info.key, 0, 1), undefined, 'deleted, for a range too');
    await engine.blobs.delete(info.key);
  });

  t.test('reopen keeps everything', async (t) => {
    const clock = testClock();
    const { engine, reopen } = await makeEngine(t, clock);
    const p = patient('p1', 'Martin', 'Jean');
    const o = observation({ id: 'o1', patient: 'p1', code: '29463-7', date: '2024-03-01T10:00:00Z', value: 70 });
    await engine.commit([create(p), create(o)]);
    const p2 = nextVersion(p);
    await engine.commit([update(p2)]);
    await engine.commit([update(tombstone(o))]);
    await engine.kv.put('keys', 'k', { a: 1 });
    await engine.kv.put('codes', 'c', 'x', { expiresAt: clock.now() + 1000 });
    const blob = await engine.blobs.put(chunksOf(Buffer.from('%PDF-1.7 fake'), 4), { maxBytes: 100 });
    const before = await engine.history({ limit: 100 });
    await engine.close();

    const again = await reopen();
    t.equal((await again.current('Patient', 'p1'))?.json, p2.json);
    t.equal((await again.version('Patient', 'p1', 1))?.json, p.json);
    t.equal((await again.current('Observation', 'o1'))?.deleted, true);
    t.same(await again.history({ limit: 100 }), before, 'history identical');
    t.same(ids(await again.find({ types: [], filter: { comp: 'Patient/p1' }, sort: [['id', 1]], limit: 10 })), ['Patient/p1']);
    t.same(await again.kv.get('keys', 'k'), { a: 1 });
    t.equal(await again.kv.get('codes', 'c'), 'x');
    clock.advance(1000);
    t.equal(await again.kv.get('codes', 'c'), undefined);
    const opened = await again.blobs.open(blob.key);
    t.equal(opened && (await readAll(opened.stream)).toString(), '%PDF-1.7 fake');
    await again.commit([update(nextVersion(p2))]);
    t.equal((await again.current('Patient', 'p1'))?.vid, 3, 'writes continue after reopen');
  });
}
