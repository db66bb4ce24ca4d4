import type { Bundle, Patient } from '@medplum/fhirtypes';
import { resourceCapability } from '../../runner/capabilities.js';
import type { CheckContext } from '../../runner/check-context.js';
import type { Check } from '../../runner/suite.js';
import { createResource, FIXTURE_ID_SYSTEM, parseLocation, samplePatient, uniqueFamily, uniqueIns } from '../fhir-helpers.js';
import type { RestState } from './checks-crud.js';
import { REST } from './requirements.js';

function identifierQuery(value: string): string {
  return `identifier=${encodeURIComponent(`${FIXTURE_ID_SYSTEM}|${value}`)}`;
}

async function countMatches(ctx: CheckContext, query: string): Promise<number> {
  const res = await ctx.http.get(`Patient?${query}&_count=50`);
  ctx.expectStatus(res, 200, `search Patient?${query}`);
  return ctx.resource<Bundle>(res, 'Bundle').entry?.filter((e) => e.resource?.resourceType === 'Patient').length ?? 0;
}

/** Two Patients sharing one family name, for the "multiple matches" cases. */
async function twoNamesakes(ctx: CheckContext): Promise<string> {
  const family = uniqueFamily(ctx);
  await createResource(ctx, samplePatient(ctx, { name: [{ family, given: ['Un'] }] }));
  await createResource(ctx, samplePatient(ctx, { name: [{ family, given: ['Deux'] }] }));
  return family;
}

export const conditionalChecks: Check<RestState>[] = [
  {
    id: 'rest.conditional-create.no-match',
    title: 'conditional create with no match creates (201)',
    requirement: REST.conditionalCreate,
    async run(ctx) {
      ctx.requireConditional('Patient', 'conditionalCreate');
      const ins = uniqueIns();
      const res = await ctx.http.request({
        method: 'POST', path: 'Patient', body: samplePatient(ctx, { identifier: [{ system: FIXTURE_ID_SYSTEM, value: ins }] }),
        headers: { 'if-none-exist': identifierQuery(ins) },
      });
      ctx.expectStatus(res, 201, 'conditional create, no match');
      ctx.expectEqual(await countMatches(ctx, identifierQuery(ins)), 1, 'Patients with that identifier afterwards');
    },
  },
  {
    id: 'rest.conditional-create.one-match',
    title: 'conditional create with one match answers 200 and creates nothing',
    requirement: REST.conditionalCreate,
    async run(ctx) {
      ctx.requireConditional('Patient', 'conditionalCreate');
      const ins = uniqueIns();
      const existing = await createResource(ctx, samplePatient(ctx, { identifier: [{ system: FIXTURE_ID_SYSTEM, value: ins }] }));
      const res = await ctx.http.request({
        method: 'POST', path: 'Patient', body: samplePatient(ctx, { identifier: [{ system: FIXTURE_ID_SYSTEM, value: ins }] }),
        headers: { 'if-none-exist': identifierQuery(ins) },
      });
      ctx.expectStatus(res, 200, 'conditional create, one match');
      const loc = parseLocation(res.headers.location);
      if (loc) ctx.expectEqual(loc.id, existing.id, 'Location of the conditional create vs the existing Patient');
      ctx.expectEqual(await countMatches(ctx, identifierQuery(ins)), 1, 'Patients with that identifier afterwards');
    },
  },
  {
    id: 'rest.conditional-create.many-matches',
    title: 'conditional create with several matches answers 412',
    requirement: REST.conditionalCreate,
    async run(ctx) {
      ctx.requireConditional('Patient', 'conditionalCreate');
      ctx.requireSearchParam('Patient', 'family');
      const family = await twoNamesakes(ctx);
      const res = await ctx.http.request({
        method: 'POST', path: 'Patient', body: samplePatient(ctx, { name: [{ family }] }),
        headers: { 'if-none-exist': `family=${family}` },
      });
      ctx.expectStatus(res, 412, 'conditional create, two matches');
    },
  },
  {
    id: 'rest.conditional-update.no-match',
    title: 'conditional update with no match creates (201)',
    requirement: REST.conditionalUpdate,
    async run(ctx) {
      ctx.requireConditional('Patient', 'conditionalUpdate');
      const ins = uniqueIns();
      const res = await ctx.http.request({
        method: 'PUT', path: `Patient?${identifierQuery(ins)}`, body: samplePatient(ctx, { identifier: [{ system: FIXTURE_ID_SYSTEM, value: ins }] }),
      });
      ctx.expectStatus(res, 201, 'conditional update, no match');
      ctx.expectEqual(await countMatches(ctx, identifierQuery(ins)), 1, 'Patients with that identifier afterwards');
    },
  },
  {
    id: 'rest.conditional-update.one-match',
    title: 'conditional update with one match updates that resource',
    requirement: REST.conditionalUpdate,
    async run(ctx) {
      ctx.requireConditional('Patient', 'conditionalUpdate');
      const ins = uniqueIns();
      const identifier = [{ system: FIXTURE_ID_SYSTEM, value: ins }];
      const existing = await createResource(ctx, samplePatient(ctx, { identifier }));
      const res = await ctx.http.request({ method: 'PUT', path: `Patient?${identifierQuery(ins)}`, body: samplePatient(ctx, { identifier, gender: 'male' }) });
      ctx.expectStatus(res, 200, 'conditional update, one match');
      const read = await ctx.http.get(`Patient/${existing.id}`);
      ctx.expectStatus(read, 200, 'read of the matched Patient');
      ctx.expectEqual(ctx.resource<Patient>(read, 'Patient').gender, 'male', 'gender of the matched Patient');
      ctx.expectEqual(await countMatches(ctx, identifierQuery(ins)), 1, 'Patients with that identifier afterwards');
    },
  },
  {
    id: 'rest.conditional-update.many-matches',
    title: 'conditional update with several matches answers 412',
    requirement: REST.conditionalUpdate,
    async run(ctx) {
      ctx.requireConditional('Patient', 'conditionalUpdate');
      ctx.requireSearchParam('Patient', 'family');
      const family = await twoNamesakes(ctx);
      const res = await ctx.http.request({ method: 'PUT', path: `Patient?family=${family}`, body: samplePatient(ctx, { name: [{ family }] }) });
      ctx.expectStatus(res, 412, 'conditional update, two matches');
    },
  },
  {
    id: 'rest.conditional-delete.one-match',
    title: 'conditional delete with one match deletes it',
    requirement: REST.conditionalDelete,
    async run(ctx) {
      ctx.requireConditional('Patient', 'conditionalDelete');
      const ins = uniqueIns();
      const existing = await createResource(ctx, samplePatient(ctx, { identifier: [{ system: FIXTURE_ID_SYSTEM, value: ins }] }));
      const del = await ctx.http.request({ method: 'DELETE', path: `Patient?${identifierQuery(ins)}` });
      ctx.expectStatus(del, [200, 202, 204], 'conditional delete, one match');
      const read = await ctx.http.get(`Patient/${existing.id}`);
      ctx.expectStatus(read, [404, 410], 'read after conditional delete');
    },
  },
  {
    id: 'rest.conditional-delete.many-matches',
    title: 'conditional delete with several matches: 412 (single) or all deleted (multiple)',
    requirement: REST.conditionalDelete,
    async run(ctx) {
      ctx.requireConditional('Patient', 'conditionalDelete');
      ctx.requireSearchParam('Patient', 'family');
      const mode = resourceCapability(ctx.capabilities, 'Patient')?.conditionalDelete;
      const family = await twoNamesakes(ctx);
      const del = await ctx.http.request({ method: 'DELETE', path: `Patient?family=${family}` });
      if (mode === 'multiple') {
        ctx.expectStatus(del, [200, 202, 204], 'conditional delete (multiple declared), two matches');
        ctx.expectEqual(await countMatches(ctx, `family=${family}`), 0, 'Patients left');
      } else {
        ctx.expectStatus(del, 412, 'conditional delete (single declared), two matches');
        ctx.expectEqual(await countMatches(ctx, `family=${family}`), 2, 'Patients left');
      }
    },
  },
];
