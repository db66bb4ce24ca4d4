import t from 'tap';
import type { Resource } from '@medplum/fhirtypes';
import { parseSearchRequest } from '../../src/fhir/search/parse.js';
import { executeSearch, INCLUDE_LIMIT } from '../../src/store/search-executor.js';
import type { ExecuteOptions } from '../../src/store/search-executor.js';
import { engineWith } from '../fixtures/search/load.js';

const OPTIONS = { strict: true, defaultCount: 20, maxCount: 1000 };
const T0 = Date.UTC(2025, 0, 1);

function observation(id: string, code: string, members: string[] = []): Resource {
  return {
    resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://example.org', code }] },
    ...(members.length ? { hasMember: members.map((m) => ({ reference: `Observation/${m}` })) } : {}),
  } as Resource;
}

async function engineOf(t: Parameters<typeof engineWith>[0], resources: Resource[]) {
  return engineWith(t, resources.map((resource, i) => ({ resource: resource as unknown as Record<string, unknown>, ts: T0 + i })));
}

t.test('_revinclude reads past the resources the page holds already, however many', async (t) => {
  // INCLUDE_LIMIT matches that all name `target`, and one more resource naming it, whose id sorts after theirs.
  const matches = Array.from({ length: INCLUDE_LIMIT }, (_, i) => observation(`m-${String(i).padStart(4, '0')}`, 'panel', ['target']));
  const engine = await engineOf(t, [observation('target', 'other'), ...matches, observation('z-late', 'other', ['target'])]);
  const request = parseSearchRequest(['Observation'], [
    ['code', 'http://example.org|panel'], ['_count', String(INCLUDE_LIMIT)],
    ['_include', 'Observation:has-member'], ['_revinclude:iterate', 'Observation:has-member'],
  ], OPTIONS);
  const result = await executeSearch(engine, request);
  t.equal(result.matches.length, INCLUDE_LIMIT);
  t.same(result.included.map((r) => r.id).sort(), ['target', 'z-late'], 'the one resource not on the page is found behind the matches');
  t.notOk(result.includesIncomplete, 'and nothing was left out');
});

t.test('exactly INCLUDE_LIMIT to include: complete; one more: incomplete; hidden ones count for nothing', async (t) => {
  const leaves = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => observation(`${prefix}-${i}`, 'leaf'));
  const full = leaves(INCLUDE_LIMIT, 'a');
  const engine = await engineOf(t, [
    observation('root-full', 'root', full.map((r) => r.id!)),
    observation('root-over', 'root', [...full.map((r) => r.id!), 'extra']),
    ...full, observation('extra', 'secret'),
  ]);
  const run = (id: string, options?: ExecuteOptions) => executeSearch(engine, parseSearchRequest(['Observation'], [['_id', id], ['_include:iterate', 'Observation:has-member']], OPTIONS), options);

  const exact = await run('root-full');
  t.equal(exact.included.length, INCLUDE_LIMIT);
  t.notOk(exact.includesIncomplete, `${INCLUDE_LIMIT} to include, all included`);
  const over = await run('root-over');
  t.equal(over.included.length, INCLUDE_LIMIT);
  t.equal(over.includesIncomplete, true, `${INCLUDE_LIMIT + 1} to include: incomplete`);
  const hidden = await run('root-over', { restrict: () => ({ 'idx.code.c': { $ne: 'secret' } }) });
  t.equal(hidden.included.length, INCLUDE_LIMIT);
  t.notOk(hidden.includesIncomplete, 'the one more is hidden from the caller: complete for them');
});
