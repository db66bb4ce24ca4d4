import type { Bundle } from '@medplum/fhirtypes';
import type { CheckContext } from '../../runner/check-context.js';
import type { Check } from '../../runner/suite.js';
import { allPages, entriesOf } from '../fhir-helpers.js';
import { SEARCH_CASES } from './cases.js';
import type { SearchCase } from './cases.js';
import type { SearchState } from './dataset.js';
import { SEARCH_REQ } from './requirements.js';
import { expectIds, search } from './run-search.js';

function requireParams(ctx: CheckContext, type: string, names: string[]): void {
  for (const name of names) ctx.requireSearchParam(type, name);
}

function fromCase(c: SearchCase): Check<SearchState> {
  return {
    id: `search.${c.type.toLowerCase()}.${c.id}`,
    title: `${c.type}?${c.title}`,
    requirement: c.requirement,
    severity: c.severity,
    async run(ctx, state) {
      requireParams(ctx, c.type, c.needs);
      const d = await state.dataset(ctx);
      const params = c.params(d);
      const { matches } = await search(ctx, c.type, params);
      expectIds(ctx, matches, c.expect(d), d.all, `${c.type}?${new URLSearchParams(params).toString()}`);
    },
  };
}

const sorted = (ids: (string | undefined)[]): string => ids.slice().sort().join(',');

const specialChecks: Check<SearchState>[] = [
  {
    id: 'search.post.equals-get',
    title: 'POST _search returns the same matches as GET',
    requirement: SEARCH_REQ.post,
    async run(ctx, state) {
      requireParams(ctx, 'Observation', ['subject', 'code']);
      const d = await state.dataset(ctx);
      const params: [string, string][] = [['subject', `Patient/${d.alpha.id}`], ['code', 'http://loinc.org|29463-7']];
      const byGet = await search(ctx, 'Observation', params);
      const byPost = await search(ctx, 'Observation', params, { method: 'POST' });
      ctx.expectEqual(sorted(byPost.matches.map((r) => r.id)), sorted(byGet.matches.map((r) => r.id)), 'ids found by POST vs GET');
      expectIds(ctx, byPost.matches, [d.weightJan, d.weightJun], d.all, 'POST _search');
    },
  },
  {
    id: 'search.reference.bare-equals-typed',
    title: 'patient=[id] and patient=Patient/[id] return the same matches',
    requirement: SEARCH_REQ.reference,
    async run(ctx, state) {
      requireParams(ctx, 'Observation', ['patient']);
      const d = await state.dataset(ctx);
      const bare = await search(ctx, 'Observation', [['patient', d.beta.id ?? '']]);
      const typed = await search(ctx, 'Observation', [['patient', `Patient/${d.beta.id}`]]);
      ctx.expectEqual(sorted(bare.matches.map((r) => r.id)), sorted(typed.matches.map((r) => r.id)), 'ids for patient=[id] vs patient=Patient/[id]');
      expectIds(ctx, bare.matches, [d.betaWeight], d.all, 'patient=[id]');
    },
  },
  {
    id: 'search.chaining.subject-family',
    title: 'Observation?subject:Patient.family= follows the reference',
    requirement: SEARCH_REQ.chaining,
    async run(ctx, state) {
      requireParams(ctx, 'Observation', ['subject']);
      ctx.requireSearchParam('Patient', 'family');
      const d = await state.dataset(ctx);
      const res = await ctx.http.get('Observation', { query: { 'subject:Patient.family': `${d.prefix}Beta` } });
      if (res.status === 400 || res.status === 501) ctx.skip(`the server refuses chained parameters (${res.status}); R4 CapabilityStatements cannot declare chaining`);
      ctx.expectStatus(res, 200, 'chained search');
      const first = ctx.resource<Bundle>(res, 'Bundle');
      const self = first.link?.find((l) => l.relation === 'self')?.url ?? '';
      if (!decodeURIComponent(self).includes('.family')) ctx.skip('the server ignored the chained parameter (absent from the self link)');
      const matches = entriesOf(await allPages(ctx, first, 'chained search'), 'match').flatMap((e) => (e.resource ? [e.resource] : []));
      ctx.expect(matches.every((r) => r.resourceType === 'Observation' && (r as { subject?: { reference?: string } }).subject?.reference?.endsWith(`Patient/${d.beta.id}`)),
        `chained search returned Observations of other patients: ${matches.map((r) => r.id).join(', ')}`);
      expectIds(ctx, matches, [d.betaWeight], d.all, 'subject:Patient.family');
    },
  },
  {
    id: 'search.include.patient',
    title: '_include=Observation:patient adds the Patient as an include',
    requirement: SEARCH_REQ.include,
    async run(ctx, state) {
      requireParams(ctx, 'Observation', ['patient']);
      ctx.requireInclude('Observation', 'Observation:patient');
      const d = await state.dataset(ctx);
      const { matches, included } = await search(ctx, 'Observation', [['patient', `Patient/${d.beta.id}`], ['_include', 'Observation:patient']]);
      expectIds(ctx, matches, [d.betaWeight], d.all, 'matches');
      ctx.expect(included.some((r) => r.resourceType === 'Patient' && r.id === d.beta.id), `Patient/${d.beta.id} is not among the included entries`);
      ctx.expect(!matches.some((r) => r.resourceType === 'Patient'), 'the included Patient is marked as a match');
    },
  },
  {
    id: 'search.revinclude.observations',
    title: '_revinclude=Observation:patient adds the Observations as includes',
    requirement: SEARCH_REQ.include,
    async run(ctx, state) {
      requireParams(ctx, 'Patient', ['_id']);
      ctx.requireRevInclude('Patient', 'Observation:patient');
      const d = await state.dataset(ctx);
      const { matches, included } = await search(ctx, 'Patient', [['_id', d.alpha.id ?? ''], ['_revinclude', 'Observation:patient']]);
      expectIds(ctx, matches, [d.alpha], d.all, 'matches');
      expectIds(ctx, included, [d.weightJan, d.heartMar, d.weightJun], d.all, 'included');
    },
  },
  {
    id: 'search.paging.next-links',
    title: '_count=1 pages through every match once via next links',
    requirement: SEARCH_REQ.paging,
    async run(ctx, state) {
      requireParams(ctx, 'Observation', ['subject']);
      const d = await state.dataset(ctx);
      const res = await ctx.http.get('Observation', { query: { subject: `Patient/${d.alpha.id}`, _count: '1' } });
      ctx.expectStatus(res, 200, 'search with _count=1');
      const first = ctx.resource<Bundle>(res, 'Bundle');
      ctx.expect((first.entry?.filter((e) => (e.search?.mode ?? 'match') === 'match').length ?? 0) <= 1, `_count=1 gave ${first.entry?.length} entries on the first page`);
      ctx.expect(first.link?.some((l) => l.relation === 'next'), 'three matches with _count=1 but no next link');
      const matches = entriesOf(await allPages(ctx, first, 'paging'), 'match').flatMap((e) => (e.resource ? [e.resource] : []));
      const ids = matches.map((r) => r.id);
      ctx.expectEqual(new Set(ids).size, ids.length, 'distinct ids over the pages (no duplicates)');
      expectIds(ctx, matches, [d.weightJan, d.heartMar, d.weightJun], d.all, 'matches over all pages');
      if (typeof first.total === 'number') ctx.expectEqual(first.total, 3, 'Bundle.total');
    },
  },
];

export const searchChecks: Check<SearchState>[] = [...SEARCH_CASES.map(fromCase), ...specialChecks];
