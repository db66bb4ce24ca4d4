import t from 'tap';
import { sortAndLimit } from '../../src/store/embedded/sort-records.js';
import type { SortSpec, VersionRecord } from '../../src/store/engine.js';
import { seededRandom } from '../helpers/seeded-random.js';

const record = (id: string, srt: Record<string, string | number | boolean>, ts = 0, type = 'Observation'): VersionRecord => ({
  type, id, vid: 1, ts, lastUpdated: new Date(ts).toISOString(), hk: `h${id}`, deleted: false,
  json: '', idx: {}, srt: srt as VersionRecord['srt'], comp: [], method: 'POST',
});
const ids = (records: VersionRecord[]): string[] => records.map((r) => r.id);

t.test('missing values come last in both directions; numbers before strings; ties broken by the next key', async (t) => {
  const records = [
    record('a', { date: 30 }), record('b', {}), record('c', { date: 'x' }), record('d', { date: 10 }),
    record('e', { date: 30 }), record('f', { date: true }),
  ];
  t.same(ids(sortAndLimit([...records], [['srt.date', 1], ['id', 1]], 10)), ['d', 'a', 'e', 'f', 'c', 'b']);
  t.same(ids(sortAndLimit([...records], [['srt.date', -1], ['id', 1]], 10)), ['c', 'f', 'a', 'e', 'd', 'b'], 'descending, the record without a date still last');
  t.same(ids(sortAndLimit([...records], [['srt.date', -1], ['id', -1]], 3)), ['c', 'f', 'e']);
  t.same(sortAndLimit([...records], [['id', 1]], 0), [], 'a limit of 0 gives nothing');
  t.same(ids(sortAndLimit([...records], [], 2)), ['a', 'b'], 'no sort: the first records as given');
});

/** The documented order, written plainly: the whole list sorted, then cut. */
function reference(records: VersionRecord[], sort: SortSpec, limit: number): string[] {
  const value = (r: VersionRecord, field: string): string | number | undefined => {
    const v = field === 'id' ? r.id : field === 'type' ? r.type : field === 'ts' ? r.ts : r.srt[field.slice(4)];
    return typeof v === 'boolean' ? String(v) : (v as string | number | undefined);
  };
  return ids([...records].sort((x, y) => {
    for (const [field, direction] of sort) {
      const a = value(x, field);
      const b = value(y, field);
      if (a === b) continue;
      if (a === undefined) return 1;
      if (b === undefined) return -1;
      // MongoDB's type order (numbers, then strings), reversed with the direction as MongoDB does.
      if (typeof a !== typeof b) return (typeof a === 'number' ? -1 : 1) * direction;
      return (a < b ? -1 : 1) * direction;
    }
    return 0;
  }).slice(0, limit));
}

t.test('any limit, small (bounded window) or large (full sort), gives the head of the full sort', async (t) => {
  const random = seededRandom(7);
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)]!;
  const records: VersionRecord[] = [];
  for (let i = 0; i < 400; i++) {
    const srt: Record<string, string | number | boolean> = {};
    const a = random();
    if (a < 0.4) srt.a = Math.floor(random() * 20);
    else if (a < 0.7) srt.a = pick(['x', 'y', 'z', 'é']);
    else if (a < 0.8) srt.a = random() < 0.5;
    if (random() < 0.7) srt.b = pick(['2020', '2021-03', '2019-12-31']);
    records.push(record(`r${String(Math.floor(random() * 1e6)).padStart(6, '0')}-${i}`, srt, Math.floor(random() * 50), pick(['Observation', 'Condition'])));
  }
  const specs: SortSpec[] = [
    [['srt.a', 1], ['type', 1], ['id', 1]],
    [['srt.a', -1], ['type', 1], ['id', 1]],
    [['srt.b', 1], ['srt.a', -1], ['type', 1], ['id', 1]],
    [['ts', -1], ['type', 1], ['id', -1]],
    [['type', 1], ['id', 1]],
  ];
  for (const sort of specs) {
    for (const limit of [1, 5, 21, 99, 100, 101, 400, 1000]) {
      t.same(ids(sortAndLimit([...records], sort, limit)), reference(records, sort, limit), `${JSON.stringify(sort)} limit ${limit}`);
    }
  }
});
