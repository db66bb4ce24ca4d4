import t from 'tap';
import { aggregate } from 'mingo';
import { sortAndLimit } from '../../src/store/embedded/sort-records.js';
import type { SortSpec, VersionRecord } from '../../src/store/engine.js';
import { sortPlan } from '../../src/store/mongodb/mongo-sort.js';
import { seededRandom } from '../helpers/seeded-random.js';

/**
 * Both engines read a `previous` page backwards with `reverse`: it must be the
 * exact mirror of the forward order, in which records lacking a sort value come
 * last whichever the direction (so first when reversed). The MongoDB engine's
 * sort stages cannot run here against MongoDB: they run in mingo, MongoDB's
 * aggregation semantics in JavaScript, against the same records.
 */
const record = (id: string, srt: Record<string, string | number>, type: string): VersionRecord => ({
  type, id, vid: 1, ts: 0, lastUpdated: new Date(0).toISOString(), hk: `h${id}`, deleted: false,
  json: '', idx: {}, srt: srt as VersionRecord['srt'], comp: [], method: 'POST',
});
const ids = (records: Array<{ type: string; id: string }>): string[] => records.map((r) => `${r.type}/${r.id}`);

function records(): VersionRecord[] {
  const random = seededRandom(11);
  const out: VersionRecord[] = [];
  for (let i = 0; i < 60; i++) {
    const srt: Record<string, string | number> = {};
    // Dates as ranges (both bounds or neither), a string key present about half the time: many ties and gaps.
    if (random() < 0.6) {
      const lo = Math.floor(random() * 5);
      srt.date = lo;
      srt['-date'] = lo + Math.floor(random() * 3);
    }
    if (random() < 0.5) srt.name = ['a', 'b', 'c'][Math.floor(random() * 3)]!;
    out.push(record(`r${String(i).padStart(2, '0')}`, srt, random() < 0.5 ? 'Observation' : 'Condition'));
  }
  return out;
}

const SORTS: Array<[string, SortSpec]> = [
  ['date', [['srt.date', 1], ['srt.-date', 1], ['type', 1], ['id', 1]]],
  ['-date', [['srt.-date', -1], ['srt.date', -1], ['type', 1], ['id', 1]]],
  ['name,-date', [['srt.name', 1], ['srt.-date', -1], ['srt.date', -1], ['type', 1], ['id', 1]]],
  ['-name,_id desc', [['srt.name', -1], ['id', -1], ['type', 1]]],
  ['type and id only', [['type', -1], ['id', 1]]],
];

function mongoOrder(items: VersionRecord[], sort: SortSpec, reverse: boolean): string[] {
  const plan = sortPlan(sort, reverse);
  const stages = plan.flags ? [{ $addFields: plan.flags }, { $sort: plan.order }] : [{ $sort: plan.order }];
  return ids(aggregate(items, stages) as unknown as VersionRecord[]);
}

t.test('reverse is the exact mirror of the forward order, on both engines', async (t) => {
  const items = records();
  for (const [label, sort] of SORTS) {
    const forward = ids(sortAndLimit([...items], sort, items.length));
    const reversed = ids(sortAndLimit([...items], sort, items.length, true));
    t.same(reversed, [...forward].reverse(), `${label}: embedded, reversed`);
    for (const limit of [1, 3, 7]) {
      t.same(ids(sortAndLimit([...items], sort, limit, true)), [...forward].reverse().slice(0, limit), `${label}: embedded, the first ${limit} read backwards`);
    }
    t.same(mongoOrder(items, sort, false), forward, `${label}: MongoDB's stages give the embedded engine's order`);
    t.same(mongoOrder(items, sort, true), reversed, `${label}: and its mirror`);
  }
  const dated = ids(sortAndLimit([...items], SORTS[1]![1], items.length));
  const undatedCount = items.filter((r) => r.srt.date === undefined).length;
  t.ok(dated.slice(-undatedCount).every((key) => items.find((r) => `${r.type}/${r.id}` === key)!.srt.date === undefined), 'forward, records without a date last even descending');
});
