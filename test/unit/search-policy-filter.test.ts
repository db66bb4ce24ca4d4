import t from 'tap';
import { parseSearchRequest } from '../../src/fhir/search/parse.js';
import { executeSearch } from '../../src/store/search-executor.js';
import type { Filter, FindQuery, StoreEngine } from '../../src/store/engine.js';
import { engineWith } from '../fixtures/search/load.js';
import { buildCorpus } from '../fixtures/search/corpus.js';

const OPTIONS = { strict: true, defaultCount: 50, maxCount: 500 };

/** The engine, noting the filters it is asked to run. */
function recording(engine: StoreEngine): { engine: StoreEngine; filters: Filter[] } {
  const filters: Filter[] = [];
  const wrapped = new Proxy(engine, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (property === 'find' || property === 'count') {
        return (query: FindQuery) => {
          filters.push(query.filter);
          return (value as (q: FindQuery) => unknown).call(target, query);
        };
      }
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  return { engine: wrapped, filters };
}

t.test('a policy filter shared by every type is written once in a search over every type', async (t) => {
  const { engine, filters } = recording(await engineWith(t, buildCorpus()));
  // A professional's patients: one filter object, the same for each type (as access/guard.ts builds it).
  const patients: Filter = { comp: { $in: ['Patient/pat1', 'Patient/pat2', 'Patient/pat3'] } };
  const hidden = new Set(['AuditEvent']);
  const restrict = (type: string): Filter | null => (hidden.has(type) ? null : patients);
  const result = await executeSearch(engine, parseSearchRequest([], [['_count', '200']], OPTIONS), { restrict });
  t.ok(result.matches.length > 0, 'it finds their resources');
  t.ok(result.matches.every((r) => r.comp.some((c) => ['Patient/pat1', 'Patient/pat2', 'Patient/pat3'].includes(c))), 'and only theirs');
  const text = JSON.stringify(filters[0]);
  t.equal(text.split('Patient/pat1').length - 1, 1, `the patients' list appears once in the filter (${text.length} characters)`);
  t.notOk(text.includes('"AuditEvent"'), 'a hidden type is not searched');
});
