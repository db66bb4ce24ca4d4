import t from 'tap';
import type { VersionRecord } from '../../src/store/engine.js';
import { StringPool } from '../../src/store/embedded/string-pool.js';

function record(srt: VersionRecord['srt']): VersionRecord {
  return {
    type: 'AuditEvent', id: 'x', vid: 1, ts: 0, lastUpdated: '', hk: '', deleted: false, json: '{}', method: 'POST',
    idx: { status: [{ c: 'final' }] }, srt, comp: ['Patient/p1'],
  };
}

/** `count` sort keys as extraction adds them: ascending and descending per parameter, strings and numbers. */
function sortKeys(count: number, prefix = 'p'): VersionRecord['srt'] {
  const srt: VersionRecord['srt'] = {};
  for (let i = 0; i < count; i++) srt[i % 2 ? `-${prefix}${i >> 1}` : `${prefix}${i >> 1}`] = i % 3 === 0 ? i : `v${i}`;
  return srt;
}

t.test('a record keeps every sort key, in order, with its value, however many it has', async (t) => {
  const pool = new StringPool();
  for (const count of [2, 19, 20, 22, 40]) {
    for (const round of [1, 2]) {
      const r = record(sortKeys(count));
      const before = Object.entries(r.srt);
      pool.internRecord(r);
      t.strictSame(Object.entries(r.srt), before, `${count} keys, record ${round}`);
      t.strictSame(r.idx, { status: [{ c: 'final' }] });
      t.strictSame(r.comp, ['Patient/p1']);
      r.srt.p0 = 'changed';
      r.srt.extra = 1;
      t.equal(r.srt.p0, 'changed', 'and they stay an ordinary object');
      t.equal(r.srt.extra, 1);
    }
  }
});

t.test('records with differing sort keys never share them, beyond any number of shapes', async (t) => {
  const pool = new StringPool();
  const records = Array.from({ length: 1100 }, (_, i) => record(sortKeys(22, `s${i}-`)));
  const expected = records.map((r) => Object.entries(r.srt));
  for (const r of records) pool.internRecord(r);
  t.ok(records.every((r, i) => JSON.stringify(Object.entries(r.srt)) === JSON.stringify(expected[i])), 'each record has its own keys and values');
  records[0]!.srt['s0-0'] = 'mine';
  t.equal(records[1]!.srt['s1-0'], 0, 'a change to one is not seen by another');
});
