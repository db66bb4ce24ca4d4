import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { CheckContext } from '../../runner/check-context.js';
import { judgeEntry } from '../../search/matcher.js';
import { allPages, entriesOf } from '../fhir-helpers.js';

export interface SearchOutcome {
  matches: Resource[];
  included: Resource[];
  pages: Bundle[];
  status: number;
}

/**
 * Runs a search by GET (or POST _search), reads every page, and judges every
 * match with the kit's own matcher: a returned resource that does not satisfy
 * its query fails the check whatever else the check expects.
 */
export async function search(
  ctx: CheckContext,
  type: string,
  params: [string, string][],
  options: { method?: 'GET' | 'POST'; allowStatus?: number[] } = {},
): Promise<SearchOutcome> {
  const query = new URLSearchParams(params).toString();
  const what = `${options.method === 'POST' ? 'POST _search' : 'GET'} ${type}?${decodeURIComponent(query)}`;
  const res =
    options.method === 'POST'
      ? await ctx.http.request({ method: 'POST', path: `${type}/_search`, body: query, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
      : await ctx.http.get(`${type}?${query}`);
  if (options.allowStatus?.includes(res.status)) return { matches: [], included: [], pages: [], status: res.status };
  ctx.expectStatus(res, 200, what);
  const first = ctx.resource<Bundle>(res, 'Bundle', what);
  ctx.expectEqual(first.type, 'searchset', `${what}: Bundle.type`);
  const pages = await allPages(ctx, first, what);
  const matches = entriesOf(pages, 'match').map((e) => e.resource).filter((r): r is Resource => r !== undefined);
  const included = entriesOf(pages, 'include').map((e) => e.resource).filter((r): r is Resource => r !== undefined);
  const includes = params.some(([name]) => name.startsWith('_include') || name.startsWith('_revinclude'));
  for (const r of matches) {
    // An included resource the server forgot to mark: say that, rather than call it a wrong match.
    if (includes && r.resourceType !== type) {
      ctx.fail(`${what}: ${r.resourceType}/${r.id} is returned as a match (search.mode missing or "match"): a resource added by _include/_revinclude must be marked search.mode=include`);
    }
    const verdict = judgeEntry(type, r, params);
    if (verdict.kind === 'mismatch') ctx.fail(`${what}: returned a resource that does not match: ${verdict.reason}`);
    if (verdict.kind === 'unverifiable') ctx.note(`${r.resourceType}/${r.id}: ${verdict.reason}`);
  }
  const ids = matches.map((r) => `${r.resourceType}/${r.id}`);
  ctx.expect(new Set(ids).size === ids.length, `${what}: the same resource is returned more than once`);
  return { matches, included, pages, status: res.status };
}

/** Fails unless the fixtures found are exactly the expected ones (other data may not match at all). */
export function expectIds(ctx: CheckContext, found: Resource[], expected: (Resource | undefined)[], fixtures: Resource[], what: string): void {
  const fixtureIds = new Set(fixtures.map((r) => `${r.resourceType}/${r.id}`));
  const got = found.map((r) => `${r.resourceType}/${r.id}`).filter((id) => fixtureIds.has(id)).sort();
  const want = expected.map((r) => `${r?.resourceType}/${r?.id}`).sort();
  const missing = want.filter((id) => !got.includes(id));
  const extra = got.filter((id) => !want.includes(id));
  if (missing.length || extra.length) {
    ctx.fail(`${what}: ${missing.length ? `missing ${missing.join(', ')}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `unexpected ${extra.join(', ')}` : ''}`);
  }
}
