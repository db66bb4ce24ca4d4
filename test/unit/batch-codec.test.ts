import t from 'tap';
import { decodeBatch, decodeRecordAt, encodeBatch } from '../../src/store/embedded/batch-codec.js';
import type { VersionRecord } from '../../src/store/engine.js';

const record = (id: string, json: string): VersionRecord => ({
  type: 'Observation', id, vid: 1, ts: 1, lastUpdated: '1970-01-01T00:00:00.001Z', hk: `h${id}`, deleted: false,
  json, idx: { code: [{ c: 'x' }] } as never, srt: {}, comp: ['Patient/p'], method: 'POST',
});

t.test('a frame round-trips records and key-value mutations, values with quotes and non-ASCII intact', async (t) => {
  const records = [record('a', '{"resourceType":"Observation","note":"é \\"q\\""}'), record('b', '{}')];
  const kv = [
    { op: 'put' as const, ns: 'audit-log', key: 'k1', v: JSON.stringify([{ reason: 'scope "x" — Hélène' }]) },
    { op: 'del' as const, ns: 'codes', key: 'c' },
    { op: 'put' as const, ns: 'codes', key: 'c2', v: '"v"', exp: 42 },
  ];
  const decoded = decodeBatch(encodeBatch({ records, kv }));
  t.same(decoded.records, records);
  t.same(decoded.kv, kv);
  t.same(decodeRecordAt(encodeBatch({ records, kv }), 1), records[1]);
});

t.test('an index already serialised by a write worker is spliced in: the frame decodes to the same records', async (t) => {
  const records = [
    record('a', '{"resourceType":"Observation"}'),
    { ...record('b', '{}'), idx: { code: [{ s: 'http://loinc.org', c: '8867-4', t: 'Fréquence "cardiaque"' }] } as never, srt: { code: '8867-4', '-code': '8867-4' }, comp: ['Patient/p1', 'Patient/p2'], blob: 'k1' },
    record('c', '{"resourceType":"Observation","id":"c"}'),
  ];
  const indexJson = records.map(({ idx, srt, comp }, i) => (i === 2 ? undefined : JSON.stringify({ idx, srt, comp }).slice(1, -1)));
  const spliced = encodeBatch({ records, kv: [] }, indexJson);
  t.same(decodeBatch(spliced).records, records);
  t.same(decodeBatch(spliced), decodeBatch(encodeBatch({ records, kv: [] })), 'as if serialised here');
  t.same(decodeRecordAt(spliced, 1), records[1]);
});

t.test('frames written before values moved out of line still decode', async (t) => {
  // The older layout: every kv op, value included, inside the meta JSON.
  const kv = [{ op: 'put', ns: 'keys', key: 'signing', v: '{"kid":"1"}' }, { op: 'del', ns: 'codes', key: 'c' }];
  const meta = Buffer.from(JSON.stringify({ kv }), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32LE(meta.length, 0);
  t.same(decodeBatch(Buffer.concat([head, meta])), { records: [], kv });
});
