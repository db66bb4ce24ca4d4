import t from 'tap';
import type { VersionRecord } from '../../src/store/engine.js';
import { StringPool } from '../../src/store/embedded/string-pool.js';

function record(idx: Record<string, unknown[]>): VersionRecord {
  return {
    type: 'Observation', id: 'x', vid: 1, ts: 0, lastUpdated: '', hk: '', deleted: false, json: '{}', method: 'POST',
    idx: idx as VersionRecord['idx'], srt: {}, comp: [],
  };
}

const final = () => [{ c: 'final' }];
const vitalSigns = () => [{ s: 'http://terminology.hl7.org/CodeSystem/observation-category', c: 'vital-signs', sc: 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs' }];

t.test('records with equal short lists share one frozen copy, with the values they had', async (t) => {
  const pool = new StringPool();
  const a = record({ status: final(), category: vitalSigns() });
  const b = record({ status: final(), category: vitalSigns() });
  pool.internRecord(a);
  pool.internRecord(b);
  t.equal(a.idx.status, b.idx.status, 'status: one list');
  t.equal(a.idx.category, b.idx.category, 'category: one list');
  t.strictSame(b.idx.category, vitalSigns(), 'the values are unchanged');
  t.ok(Object.isFrozen(a.idx.status) && Object.isFrozen(a.idx.status![0]), 'a shared list cannot be changed for the other records');
  t.throws(() => (a.idx.status as Array<{ c: string }>).push({ c: 'amended' }), TypeError);
});

t.test('lists differing in any value, or in where a value sits, stay apart', async (t) => {
  const pool = new StringPool();
  const lists: unknown[][] = [
    [{ c: 'final' }],
    [{ c: 'amended' }],
    [{ s: 'final' }],
    [{ c: 'final' }, { c: 'amended' }],
    [{ c: 'amended' }, { c: 'final' }],
    // Concatenated field names and values would make these two one key: each value is its own step.
    [{ s: 'a', c: 'b' }],
    [{ s: 'acb' }],
    [{ s: 'a1:c1:b' }],
  ];
  const records = lists.map((values) => record({ p: values.map((v) => ({ ...(v as object) })) }));
  for (const r of records) pool.internRecord(r);
  records.forEach((r, i) => t.strictSame(r.idx.p, lists[i], `list ${i} keeps its own values`));
  t.equal(new Set(records.map((r) => r.idx.p)).size, lists.length, 'no two share a list');
});

t.test('lists of numbers, nested values or long strings are left to each record', async (t) => {
  const pool = new StringPool();
  const date = () => [{ lo: 1, hi: 2 }];
  const a = record({ date: date(), text: [{ f: 'x'.repeat(200) }] });
  const b = record({ date: date(), text: [{ f: 'x'.repeat(200) }] });
  pool.internRecord(a);
  pool.internRecord(b);
  t.not(a.idx.date, b.idx.date);
  t.notOk(Object.isFrozen(a.idx.date));
  t.not(a.idx.text, b.idx.text);
});

t.test('one value object in two lists of a record (an AuditEvent\'s entity and patient) is pooled once, without error', async (t) => {
  const pool = new StringPool();
  const alice = { r: 'Patient/alice', t: 'Patient', i: 'alice' };
  const r = record({ entity: [{ r: 'Observation/o1', t: 'Observation', i: 'o1' }, alice], patient: [alice] });
  t.doesNotThrow(() => pool.internRecord(r));
  t.strictSame(r.idx.patient, [{ r: 'Patient/alice', t: 'Patient', i: 'alice' }]);
});

t.test('a parameter whose lists keep differing stops being pooled, its strings still are', async (t) => {
  const pool = new StringPool();
  const records = Array.from({ length: 5000 }, (_, i) => record({ identifier: [{ c: `id-${i}` }], status: final() }));
  for (const r of records) pool.internRecord(r);
  const last = records[records.length - 1]!;
  t.notOk(Object.isFrozen(last.idx.identifier), 'beyond the bound, a new value keeps its own list');
  t.ok(Object.isFrozen(records[0]!.idx.identifier), 'the first ones were pooled');
  t.equal(last.idx.status, records[0]!.idx.status, 'other parameters are still pooled');
  const again = record({ identifier: [{ c: 'id-0' }] });
  pool.internRecord(again);
  t.equal(again.idx.identifier, records[0]!.idx.identifier, 'a value pooled before the bound is still shared');
});
