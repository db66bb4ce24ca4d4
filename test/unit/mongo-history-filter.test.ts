import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Query } from 'mingo';
import { historyFilter } from '../../src/store/mongodb/mongo-engine.js';
import { seededRandom } from '../helpers/seeded-random.js';

// The MongoDB engine bounds `hk` by `_since`/`_at` so its index walk stops early: the bounds must
// select exactly the versions the `ts` conditions select (evaluated here with mingo, which runs the same filter language).
t.test('history key bounds select exactly what the time bounds select', async (t) => {
  const random = seededRandom(42);
  const base = Date.parse('2026-01-01T00:00:00Z');
  const versions = Array.from({ length: 400 }, () => {
    const ts = base + Math.floor(random() * 86_400_000);
    return { type: 'Patient', id: 'p', ts, hk: `${new Date(ts).toISOString()}|${randomUUID()}` };
  });
  const picks = [base - 1000, base, ...versions.slice(0, 30).map((v) => v.ts), base + 86_400_000, Date.parse('9999-12-31T23:59:59.999Z')];
  for (let i = 0; i < 60; i++) {
    const since = random() < 0.7 ? picks[Math.floor(random() * picks.length)] : undefined;
    const at = random() < 0.7 ? picks[Math.floor(random() * picks.length)] : undefined;
    const afterKey = random() < 0.3 ? versions[Math.floor(random() * versions.length)]!.hk : undefined;
    const expected = versions.filter((v) => (since === undefined || v.ts >= since) && (at === undefined || v.ts <= at) && (afterKey === undefined || v.hk < afterKey));
    const query = new Query(historyFilter({ type: 'Patient', id: 'p', since, at, afterKey }));
    const got = versions.filter((v) => query.test(v));
    t.same(got.map((v) => v.hk), expected.map((v) => v.hk), `since ${since} at ${at} after ${afterKey?.slice(0, 24)}`);
  }
  const filter = historyFilter({ since: base, at: base + 1000 });
  t.same(filter.hk, { $lt: new Date(base + 1001).toISOString(), $gte: new Date(base).toISOString() }, 'the index range is bounded at both ends');
});
