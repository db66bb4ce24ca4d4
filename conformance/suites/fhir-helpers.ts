import type { Bundle, BundleEntry, Observation, OperationOutcome, Patient, Resource } from '@medplum/fhirtypes';
import { randomBytes, randomInt } from 'node:crypto';
import type { CheckContext } from '../runner/check-context.js';
import type { HttpResponse } from '../runner/http-client.js';
import { withArticle } from '../runner/wording.js';

/** Tag on everything the kit creates, so an operator can find and purge it. */
export const RUN_TAG_SYSTEM = 'https://carnet.dev/fhir/conformance-run';
export const FIXTURE_ID_SYSTEM = 'urn:oid:1.2.250.1.213.1.4.10';

export function unique(ctx: CheckContext, label: string): string {
  return `${label}-${ctx.runId}-${randomBytes(4).toString('hex')}`;
}

/** A 13-digit test INS value, unique enough for one run. */
export function uniqueIns(): string {
  return `${randomInt(1, 3)}${String(randomInt(0, 1e6)).padStart(6, '0')}${String(randomInt(0, 1e6)).padStart(6, '0')}`;
}

/** A family name no other data shares: letters only, since names are folded by servers. */
export function uniqueFamily(ctx: CheckContext): string {
  const letters = [...randomBytes(6)].map((b) => String.fromCharCode(97 + (b % 26))).join('');
  return `Zconf${ctx.runId.replace(/[^a-z]/gi, '')}${letters}`;
}

export function runTag(ctx: CheckContext): { system: string; code: string } {
  return { system: RUN_TAG_SYSTEM, code: ctx.runId };
}

export function samplePatient(ctx: CheckContext, over: Partial<Patient> = {}): Patient {
  return {
    resourceType: 'Patient',
    meta: { tag: [runTag(ctx)] },
    identifier: [{ system: FIXTURE_ID_SYSTEM, value: uniqueIns() }],
    name: [{ family: uniqueFamily(ctx), given: ['Élodie'] }],
    gender: 'female',
    birthDate: '1980-05-12',
    ...over,
  };
}

export const LOINC = 'http://loinc.org';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

export function sampleWeight(ctx: CheckContext, subject: string, kg: number, when: string, over: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    meta: { tag: [runTag(ctx)] },
    status: 'final',
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'vital-signs', display: 'Vital Signs' }] }],
    code: { coding: [{ system: LOINC, code: '29463-7', display: 'Body weight' }], text: 'Body weight' },
    subject: { reference: subject },
    effectiveDateTime: when,
    valueQuantity: { value: kg, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    ...over,
  };
}

export function sampleHeartRate(ctx: CheckContext, subject: string, bpm: number, when: string): Observation {
  return {
    resourceType: 'Observation',
    meta: { tag: [runTag(ctx)] },
    status: 'final',
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'vital-signs', display: 'Vital Signs' }] }],
    code: { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }], text: 'Heart rate' },
    subject: { reference: subject },
    effectiveDateTime: when,
    valueQuantity: { value: bpm, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}

export interface ParsedLocation {
  type: string;
  id: string;
  versionId?: string;
}

/** `[base]/Type/id/_history/vid` (absolute or relative) into its parts. */
export function parseLocation(location: string | undefined): ParsedLocation | undefined {
  if (!location) return undefined;
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?\/?$/.exec(location.split('?')[0]!);
  return m ? { type: m[1]!, id: m[2]!, versionId: m[3] } : undefined;
}

/** `W/"3"` -> `3`; undefined when the header is missing or not an ETag. */
export function etagVersion(etag: string | undefined): string | undefined {
  const m = /^(?:W\/)?"([^"]*)"$/.exec(etag?.trim() ?? '');
  return m?.[1];
}

/**
 * The resource's `meta.versionId`, failing plainly when the server gave none:
 * the steps that need it (vread, If-Match, comparing versions) would otherwise
 * send and report `undefined` (`_history/undefined`, `W/"undefined"`).
 */
export function versionIdOf(ctx: CheckContext, resource: Resource, what: string): string {
  const where = resource.id ? `${resource.resourceType}/${resource.id}` : withArticle(resource.resourceType);
  return ctx.present(resource.meta?.versionId, `${what}: the server returned no meta.versionId (${where}), so versions cannot be checked`);
}

/**
 * Creates a resource and returns it as stored. Works whether or not the server
 * returns a body (Prefer is left to the server's default).
 */
export async function createResource<T extends Resource>(ctx: CheckContext, resource: T, what = `create ${resource.resourceType}`): Promise<T> {
  const res = await ctx.http.request({ method: 'POST', path: resource.resourceType, body: resource, headers: { prefer: 'return=representation' } });
  ctx.expectStatus(res, 201, what);
  const body = res.json as T | undefined;
  if (body?.resourceType === resource.resourceType && body.id) return body;
  const loc = ctx.present(parseLocation(res.headers.location), `${what}: 201 without a body, and ${res.headers.location === undefined ? 'no Location header' : `a Location that names no [base]/Type/id: ${JSON.stringify(res.headers.location)}`}`);
  return readResource<T>(ctx, resource.resourceType, loc.id);
}

export async function readResource<T extends Resource>(ctx: CheckContext, type: string, id: string): Promise<T> {
  const res = await ctx.http.get(`${type}/${id}`);
  ctx.expectStatus(res, 200, `read ${type}/${id}`);
  return ctx.resource<T>(res, type as T['resourceType']);
}

export function bundleOf(ctx: CheckContext, res: HttpResponse, type: Bundle['type'], what: string): Bundle {
  const bundle = ctx.resource<Bundle>(res, 'Bundle', what);
  ctx.expectEqual(bundle.type, type, `${what}: Bundle.type`);
  return bundle;
}

export function nextLink(bundle: Bundle): string | undefined {
  return bundle.link?.find((l) => l.relation === 'next')?.url;
}

/**
 * Follows `next` links to the end (bounded, so a server looping on itself
 * cannot hang the run) and returns every page.
 */
export async function allPages(ctx: CheckContext, first: Bundle, what: string, maxPages = 50): Promise<Bundle[]> {
  const pages = [first];
  let url = nextLink(first);
  const seen = new Set<string>();
  while (url) {
    ctx.expect(!seen.has(url), `${what}: the next link ${url} repeats a page already read`);
    ctx.expect(pages.length < maxPages, `${what}: more than ${maxPages} pages`);
    // The kit's token goes to the server under test only (HttpClient would not send it elsewhere).
    ctx.expect(ctx.http.isUnderBase(url), `${what}: the next link ${url} leads outside the server's base ${ctx.base}: a paging link must stay on the server (nothing was sent there)`);
    seen.add(url);
    const res = await ctx.http.get(url);
    ctx.expectStatus(res, 200, `${what}: page ${pages.length + 1}`);
    const page = ctx.resource<Bundle>(res, 'Bundle', `${what}: page ${pages.length + 1}`);
    pages.push(page);
    url = nextLink(page);
  }
  return pages;
}

export function entriesOf(bundles: Bundle[], mode?: 'match' | 'include' | 'outcome'): BundleEntry[] {
  return bundles.flatMap((b) => b.entry ?? []).filter((e) => mode === undefined || (e.search?.mode ?? 'match') === mode);
}

export function resourcesOf<T extends Resource = Resource>(bundles: Bundle[], type?: string, mode?: 'match' | 'include'): T[] {
  return entriesOf(bundles, mode)
    .map((e) => e.resource)
    .filter((r): r is T => r !== undefined && (type === undefined || r.resourceType === type));
}

export function isOperationOutcome(value: unknown): value is OperationOutcome {
  return typeof value === 'object' && value !== null && (value as Resource).resourceType === 'OperationOutcome';
}

export function isFhirJson(contentType: string | undefined): boolean {
  return /^application\/fhir\+json\b/i.test(contentType ?? '');
}
