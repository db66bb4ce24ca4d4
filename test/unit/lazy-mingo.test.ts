import t from 'tap';
import { compiledQuery, mingoQuery } from '../../src/store/lazy-mingo.js';

const records = [
  { type: 'Patient', id: 'a', comp: ['Patient/a'], idx: { name: [{ f: 'dupont' }], birthdate: [{ lo: 10, hi: 20 }] } },
  { type: 'Patient', id: 'b', comp: ['Patient/b'], idx: { name: [{ f: 'durand' }], birthdate: [{ lo: 30, hi: 40 }] } },
];

t.test('compiled queries answer each filter for itself, cached or not', async (t) => {
  const Mingo = await mingoQuery();
  const ids = (filter: Record<string, unknown>) => records.filter((r) => compiledQuery(Mingo, filter).test(r)).map((r) => r.id);
  // Filters that differ only inside a $regex, an operator or a number must not share a cache entry.
  t.same(ids({ 'idx.name': { $elemMatch: { f: { $regex: '^dup' } } } }), ['a']);
  t.same(ids({ 'idx.name': { $elemMatch: { f: { $regex: '^dur' } } } }), ['b']);
  t.same(ids({ 'idx.name.f': { $regex: new RegExp('^dup') } }), ['a']);
  t.same(ids({ 'idx.name.f': { $regex: new RegExp('^dur') } }), ['b']);
  t.same(ids({ 'idx.birthdate': { $elemMatch: { lo: { $gte: 25 } } } }), ['b']);
  t.same(ids({ 'idx.birthdate': { $elemMatch: { lo: { $lte: 25 } } } }), ['a']);
  t.same(ids({ $or: [{ id: 'a' }, { comp: 'Patient/b' }] }), ['a', 'b']);
  t.same(ids({ $and: [{ id: 'a' }, { comp: 'Patient/b' }] }), []);
  t.same(ids({ id: { $nin: ['a'] }, 'idx.name.f': { $exists: true } }), ['b']);
  // Past the cache's bound, evicted filters compile again and still answer right.
  const wrong: number[] = [];
  for (let i = 0; i < 2100; i++) if (ids({ id: i % 2 ? 'a' : 'b', n: { $ne: i } }).join() !== (i % 2 ? 'a' : 'b')) wrong.push(i);
  t.same(wrong, [], 'every one of 2,100 distinct filters answered right');
  t.same(ids({ 'idx.name': { $elemMatch: { f: { $regex: '^dup' } } } }), ['a']);
});
