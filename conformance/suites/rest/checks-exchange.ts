import { randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { declaresSmartSecurity } from '../../runner/capabilities.js';
import type { CheckContext } from '../../runner/check-context.js';
import type { Check } from '../../runner/suite.js';
import {
  allPages,
  bundleOf,
  createResource,
  entriesOf,
  FIXTURE_ID_SYSTEM,
  isOperationOutcome,
  parseLocation,
  samplePatient,
  sampleWeight,
  uniqueIns,
  versionIdOf,
} from '../fhir-helpers.js';
import type { RestState } from './checks-crud.js';
import { REST } from './requirements.js';

function requireSecurity(ctx: CheckContext): void {
  if (!declaresSmartSecurity(ctx.capabilities)) ctx.skip('the CapabilityStatement declares no OAuth/SMART security, so open access is allowed');
}

/** A Patient with three versions (female, male, other). */
async function threeVersions(ctx: CheckContext): Promise<Patient> {
  const p = await createResource(ctx, samplePatient(ctx));
  for (const gender of ['male', 'other'] as const) {
    const res = await ctx.http.request({ method: 'PUT', path: `Patient/${p.id}`, body: { ...p, gender } });
    ctx.expectStatus(res, 200, `update to ${gender}`);
  }
  return p;
}

export const exchangeChecks: Check<RestState>[] = [
  {
    id: 'rest.history.instance',
    title: 'instance history lists every version, newest first',
    requirement: REST.history,
    async run(ctx) {
      ctx.requireInteraction('Patient', 'history-instance');
      ctx.requireInteraction('Patient', 'update');
      const p = await threeVersions(ctx);
      const res = await ctx.http.get(`Patient/${p.id}/_history`);
      ctx.expectStatus(res, 200, 'history');
      const pages = await allPages(ctx, bundleOf(ctx, res, 'history', 'history'), 'history');
      const versions = entriesOf(pages).map((e) => (e.resource as Patient | undefined)?.gender);
      ctx.expectEqual(versions.join(','), 'other,male,female', 'genders of the history entries, in order');
    },
  },
  {
    id: 'rest.history.paging',
    title: 'history pages with _count and next links, each version once',
    requirement: REST.paging,
    async run(ctx) {
      ctx.requireInteraction('Patient', 'history-instance');
      ctx.requireInteraction('Patient', 'update');
      const p = await threeVersions(ctx);
      const res = await ctx.http.get(`Patient/${p.id}/_history`, { query: { _count: '1' } });
      ctx.expectStatus(res, 200, 'history with _count=1');
      const first = bundleOf(ctx, res, 'history', 'history page 1');
      ctx.expect((first.entry?.length ?? 0) <= 1, `_count=1 returned ${first.entry?.length} entries`);
      const pages = await allPages(ctx, first, 'history');
      const ids = entriesOf(pages).map((e, i) => versionIdOf(ctx, ctx.present(e.resource, `history entry ${i + 1} holds no resource`), `history entry ${i + 1}`));
      ctx.expectEqual(ids.length, 3, 'versions collected over all pages');
      ctx.expectEqual(new Set(ids).size, 3, 'distinct versions over all pages');
    },
  },
  {
    id: 'rest.history.delete',
    title: 'history shows a deletion',
    requirement: REST.history,
    severity: 'warning',
    async run(ctx) {
      ctx.requireInteraction('Patient', 'history-instance');
      ctx.requireInteraction('Patient', 'delete');
      const p = await createResource(ctx, samplePatient(ctx));
      const del = await ctx.http.request({ method: 'DELETE', path: `Patient/${p.id}` });
      ctx.expectStatus(del, [200, 202, 204], 'delete');
      const res = await ctx.http.get(`Patient/${p.id}/_history`);
      ctx.expectStatus(res, 200, 'history of a deleted Patient');
      const entries = entriesOf(await allPages(ctx, bundleOf(ctx, res, 'history', 'history'), 'history'));
      ctx.expectEqual(entries.length, 2, 'history entries (create + delete)');
      ctx.expectEqual(entries[0]?.request?.method, 'DELETE', 'newest entry request.method');
    },
  },
  {
    id: 'rest.content.not-acceptable',
    title: 'an Accept the server cannot produce gets 406',
    requirement: REST.mimeAccept,
    async run(ctx) {
      ctx.requireInteraction('Patient', 'read');
      // metadata is public (discovery read it without a token): no token to obtain, none to need.
      const res = await ctx.http.get('metadata', { auth: 'none', headers: { accept: 'application/vnd.carnet-conformance.unproducible' } });
      ctx.expectStatus(res, 406, 'GET metadata with an unproducible Accept');
    },
  },
  {
    id: 'rest.content.format-param',
    title: '_format=json is honoured',
    requirement: REST.mimeAccept,
    severity: 'warning',
    async run(ctx) {
      // metadata is public (discovery read it without a token): no token to obtain, none to need.
      const res = await ctx.http.get('metadata', { auth: 'none', query: { _format: 'json' }, headers: { accept: '*/*' } });
      ctx.expectStatus(res, 200, 'GET metadata?_format=json');
      ctx.expect(/json/.test(res.headers['content-type'] ?? ''), `Content-Type: ${res.headers['content-type']}`);
    },
  },
  {
    id: 'rest.content.unsupported-media-type',
    title: 'a body in an unsupported media type gets 415',
    requirement: REST.mimeBody,
    async run(ctx) {
      ctx.requireInteraction('Patient', 'create');
      const res = await ctx.http.request({
        method: 'POST', path: 'Patient', body: 'resourceType=Patient', headers: { 'content-type': 'text/csv' },
      });
      ctx.expectStatus(res, 415, 'create with Content-Type text/csv');
    },
  },
  {
    id: 'rest.security.search-without-token',
    title: 'a search without a token gets 401 with WWW-Authenticate',
    requirement: REST.security,
    async run(ctx) {
      requireSecurity(ctx);
      const res = await ctx.http.get('Patient', { auth: 'none' });
      ctx.expectStatus(res, 401, 'GET Patient without a token');
      ctx.expect(res.headers['www-authenticate'], 'no WWW-Authenticate header on the 401');
      ctx.expect(/^\s*Bearer\b/i.test(String(res.headers['www-authenticate'])), `the 401's WWW-Authenticate is no Bearer challenge (RFC 6750 §3): ${String(res.headers['www-authenticate']).slice(0, 80)}`);
      ctx.expect(!/"resourceType"\s*:\s*"Patient"/.test(res.text), 'the 401 body holds Patient data');
    },
  },
  {
    id: 'rest.security.read-without-token',
    title: 'a read without a token gets 401 and no data',
    requirement: REST.security,
    async run(ctx, state) {
      requireSecurity(ctx);
      ctx.requireInteraction('Patient', 'create');
      const p = await state.patient(ctx);
      const res = await ctx.http.get(`Patient/${p.id}`, { auth: 'none' });
      ctx.expectStatus(res, 401, 'GET Patient/[id] without a token');
      ctx.expect(!res.text.includes(p.name?.[0]?.family ?? '\u0000'), 'the 401 body holds the Patient\'s data');
    },
  },
  {
    id: 'rest.security.bad-token',
    title: 'the run\'s own token, unsigned (alg none), gets 401',
    requirement: REST.security,
    async run(ctx) {
      requireSecurity(ctx);
      // RFC 8725 §3.1: a token whose claims would all be accepted (iss, aud, exp, scope: the run's own),
      // but unsigned. A bare {"scope":...} token would be refused for its missing claims alone.
      const real = await ctx.tokens.token(ctx.scope).catch(() => undefined);
      const copy = real === undefined ? undefined : unsigned(real);
      if (!copy) {
        ctx.notChecked(`an unsigned token carrying valid claims (iss, aud, exp): ${real === undefined ? 'the run has no access token to copy' : 'the server\'s access tokens are not JWTs'}; an unsigned token with a scope claim only was sent`);
      }
      const forged = copy ?? `${b64url({ alg: 'none' })}.${b64url({ scope: 'system/*.cruds' })}.`;
      const res = await ctx.http.get('Patient', { query: { _count: '1' }, auth: { token: forged } });
      ctx.expectStatus(res, 401, `GET Patient with ${copy ? 'the run\'s token unsigned (alg none, same claims, no signature)' : 'an unsigned token'}`);
      ctx.expect(!/"resourceType"\s*:\s*"Patient"/.test(res.text), 'the answer to the unsigned token holds Patient data');
    },
  },
  {
    id: 'rest.security.wrong-key-token',
    title: 'the run\'s own token, signed again with another key, gets 401',
    requirement: REST.security,
    async run(ctx) {
      requireSecurity(ctx);
      ctx.requireCredentials();
      const real = ctx.present(await ctx.tokens.token(ctx.scope), 'the run could get no access token');
      // Same header (kid, alg) and claims (iss, aud, exp, scope): only the signature is wrong, which a
      // server that decodes tokens without verifying them would not notice (an alg:none token it would).
      const forged = await signedWithAnotherKey(real);
      if (!forged) return ctx.skip('the server\'s access tokens are not signed JWTs (opaque tokens): nothing to sign again');
      const control = await ctx.http.get('Patient', { query: { _count: '1' }, auth: { token: real } });
      ctx.expectStatus(control, 200, 'GET Patient with the run\'s token (the control)');
      const res = await ctx.http.get('Patient', { query: { _count: '1' }, auth: { token: forged } });
      ctx.expectStatus(res, 401, 'GET Patient with the run\'s token signed again by another key');
      ctx.expect(!/"resourceType"\s*:\s*"Patient"/.test(res.text), 'the answer to the forged token holds Patient data');
    },
  },
  {
    id: 'rest.transaction.references',
    title: 'transaction creates all entries and rewrites urn:uuid references',
    requirement: REST.transactionReferences,
    async run(ctx) {
      ctx.requireSystemInteraction('transaction');
      const patientUrn = `urn:uuid:${randomUUID()}`;
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: patientUrn, resource: samplePatient(ctx), request: { method: 'POST', url: 'Patient' } },
          { fullUrl: `urn:uuid:${randomUUID()}`, resource: sampleWeight(ctx, patientUrn, 70, '2024-02-01'), request: { method: 'POST', url: 'Observation' } },
        ],
      };
      const res = await ctx.http.request({ method: 'POST', path: '', body: bundle });
      ctx.expectStatus(res, 200, 'transaction');
      const out = bundleOf(ctx, res, 'transaction-response', 'transaction response');
      ctx.expectEqual(out.entry?.length, 2, 'response entries');
      ctx.expect(out.entry?.[0]?.response?.status?.startsWith('201'), `entry 1 status: ${out.entry?.[0]?.response?.status}`);
      const patientLoc = ctx.present(parseLocation(out.entry?.[0]?.response?.location), `entry 1 location: ${out.entry?.[0]?.response?.location}`);
      const obsLoc = ctx.present(parseLocation(out.entry?.[1]?.response?.location), `entry 2 location: ${out.entry?.[1]?.response?.location}`);
      ctx.expect(patientLoc.type === 'Patient' && obsLoc.type === 'Observation', 'response locations do not name the new Patient and Observation');
      const read = await ctx.http.get(`Observation/${obsLoc.id}`);
      ctx.expectStatus(read, 200, 'read of the Observation created by the transaction');
      ctx.expectEqual(ctx.resource<Observation>(read, 'Observation').subject?.reference, `Patient/${patientLoc.id}`, 'Observation.subject.reference');
    },
  },
  {
    id: 'rest.transaction.atomic',
    title: 'a transaction with one failing entry changes nothing',
    requirement: REST.transaction,
    async run(ctx) {
      ctx.requireSystemInteraction('transaction');
      ctx.requireSearchParam('Patient', 'identifier');
      const ins = uniqueIns();
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: `urn:uuid:${randomUUID()}`, resource: samplePatient(ctx, { identifier: [{ system: FIXTURE_ID_SYSTEM, value: ins }] }), request: { method: 'POST', url: 'Patient' } },
          // A version conflict: this entry must fail.
          { resource: samplePatient(ctx, { id: `missing-${ctx.runId}` }), request: { method: 'PUT', url: `Patient/missing-${ctx.runId}`, ifMatch: 'W/"999"' } },
        ],
      };
      const res = await ctx.http.request({ method: 'POST', path: '', body: bundle });
      // The client's transaction is wrong (a stale If-Match): a 4xx says so. A 5xx says the server broke,
      // which is no refusal of the transaction, whatever it left behind. http.html: a failed If-Match is 412.
      ctx.expect(res.status >= 400 && res.status < 500, `transaction with a failing entry (a stale ifMatch): expected a 4xx refusal (412 Precondition Failed), got ${res.status}${res.status >= 500 ? ', a server error' : ''}`);
      if (res.status !== 412 && res.status !== 409) ctx.note(`the transaction was refused with ${res.status}; for a failed ifMatch http.html names 412 Precondition Failed (409 Conflict for a version conflict)`);
      ctx.expect(isOperationOutcome(res.json), 'the failed transaction carries no OperationOutcome');
      const search = await ctx.http.get('Patient', { query: { identifier: `${FIXTURE_ID_SYSTEM}|${ins}` } });
      ctx.expectStatus(search, 200, 'search for the entry that should not exist');
      ctx.expectEqual(ctx.resource<Bundle>(search, 'Bundle').entry?.length ?? 0, 0, 'Patients left behind by the failed transaction');
    },
  },
  {
    id: 'rest.batch.independent',
    title: 'batch processes entries independently with their own status',
    requirement: REST.batch,
    async run(ctx, state) {
      ctx.requireSystemInteraction('batch');
      const p = await state.patient(ctx);
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Patient/${p.id}` } },
          { request: { method: 'GET', url: `Patient/unknown-${ctx.runId}-0000` } },
          { resource: samplePatient(ctx), request: { method: 'POST', url: 'Patient' } },
        ],
      };
      const res = await ctx.http.request({ method: 'POST', path: '', body: bundle });
      ctx.expectStatus(res, 200, 'batch');
      const out = bundleOf(ctx, res, 'batch-response', 'batch response');
      const statuses = (out.entry ?? []).map((e) => e.response?.status?.slice(0, 3));
      ctx.expectEqual(statuses.join(','), '200,404,201', 'entry statuses');
    },
  },
];

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** `token` with the same header fields but `alg: none`, the same claims, and an empty signature; undefined for an opaque token. */
function unsigned(token: string): string | undefined {
  try {
    return `${b64url({ ...decodeProtectedHeader(token), alg: 'none' })}.${b64url(decodeJwt(token))}.`;
  } catch {
    return undefined;
  }
}

/** `token` with its header and claims as they are, signed by a key made for the purpose; undefined for an opaque token. */
async function signedWithAnotherKey(token: string): Promise<string | undefined> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: ReturnType<typeof decodeJwt>;
  try {
    header = decodeProtectedHeader(token);
    claims = decodeJwt(token);
  } catch {
    return undefined;
  }
  const alg = typeof header.alg === 'string' ? header.alg : '';
  if (!alg || alg === 'none') return undefined;
  const key = alg.startsWith('HS') ? randomBytes(64) : (await generateKeyPair(alg, { extractable: false })).privateKey;
  return new SignJWT(claims).setProtectedHeader({ ...header, alg }).sign(key);
}
