import t from 'tap';
import { Query } from 'mingo/query';
import { Context } from 'mingo/core';
import * as queryOperators from 'mingo/operators/query';
import { mingoQuery } from '../../src/store/lazy-mingo.js';

// The store's `$in`/`$nin` (a Set per compiled query, store/set-membership.ts) answer as mingo's own do.
t.test('$in and $nin over strings and numbers answer as mingo does', async (t) => {
  const Fast = await mingoQuery();
  const plain = Context.init({ query: { ...queryOperators } as never });
  const docs: Array<Record<string, unknown>> = [
    {}, { comp: [] }, { comp: ['Patient/a'] }, { comp: ['Patient/a', 'Patient/b'] }, { comp: 'Patient/b' }, { comp: null }, { comp: [null] },
    { comp: [['Patient/a']] }, { comp: 1 }, { comp: '1' }, { comp: [1, 'x'] },
    { idx: { code: [{ sc: 'l|1' }, { sc: 'l|2' }] } }, { idx: { code: [{ c: '1' }] } }, { idx: { code: { sc: 'l|2' } } }, { idx: [{ code: [{ sc: 'l|1' }] }] },
  ];
  const lists: unknown[][] = [[], ['Patient/a'], ['Patient/a', 'Patient/c'], [1], ['1'], [1, 'x'], ['l|1'], ['l|2', 'l|3']];
  let compared = 0;
  for (const path of ['comp', 'idx.code.sc']) {
    for (const list of lists) {
      for (const op of ['$in', '$nin']) {
        const filter = { [path]: { [op]: list } };
        const fast = new Fast(filter as never);
        const reference = new Query(filter as never, { context: plain } as never);
        for (const doc of docs) {
          t.equal(fast.test(doc), reference.test(doc), `${JSON.stringify(filter)} on ${JSON.stringify(doc)}`);
          compared++;
        }
      }
    }
  }
  const negated = { comp: { $not: { $elemMatch: { $nin: ['Patient/a'] } } } };
  for (const doc of docs) t.equal(new Fast(negated as never).test(doc), new Query(negated as never, { context: plain } as never).test(doc), `$not $elemMatch $nin on ${JSON.stringify(doc)}`);
  t.ok(compared > 400);
});
