import { randomUUID } from 'node:crypto';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import { createClientAssertion, tokenRequestBody } from '../../auth/backend-services.js';
import type { AssertionOptions } from '../../auth/backend-services.js';
import { declaresSmartSecurity } from '../../runner/capabilities.js';
import type { CheckContext } from '../../runner/check-context.js';
import type { HttpResponse } from '../../runner/http-client.js';
import type { Check } from '../../runner/suite.js';
import { fixture } from '../../runner/suite.js';
import { systemScope } from '../../runner/target.js';
import { createResource, samplePatient, sampleWeight } from '../fhir-helpers.js';
import { SMART_REQ } from './requirements.js';

export interface SmartState {
  /** An Observation (and its Patient) made with the suite's full token, for scope checks. */
  observation: (ctx: CheckContext) => Promise<Observation>;
}

export function createSmartState(): SmartState {
  return {
    observation: fixture(async (ctx) => {
      const p = await createResource(ctx, samplePatient(ctx));
      return createResource(ctx, sampleWeight(ctx, `Patient/${p.id}`, 68, '2024-04-01'));
    }),
  };
}

/** `the string "300"`, `the number 0`, `nothing`: what a JSON member held, its type included. */
function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  return JSON.stringify(value);
}

async function postToken(ctx: CheckContext, tokenEndpoint: string, assertion: string, scope: string): Promise<HttpResponse> {
  return ctx.http.request({
    method: 'POST',
    path: tokenEndpoint,
    body: tokenRequestBody(assertion, scope),
    auth: 'none',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
  });
}

function expectInvalidClient(ctx: CheckContext, res: HttpResponse, what: string): void {
  ctx.expectStatus(res, [400, 401], what);
  const error = (res.json as { error?: string } | undefined)?.error;
  ctx.expectEqual(error, 'invalid_client', `${what}: error`);
}

/** A key pair of the same kind as the client's, never registered: its signatures must not verify. */
async function strangerKey(jwk: JWK): Promise<JWK> {
  const alg = jwk.alg ?? 'RS384';
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), alg, kid: jwk.kid };
}

type Tamper = (o: AssertionOptions) => Promise<Partial<AssertionOptions>>;

const BAD_ASSERTIONS: { id: string; title: string; tamper: Tamper }[] = [
  { id: 'bad-signature', title: 'an assertion signed by another key', tamper: async (o) => ({ signingJwk: await strangerKey(o.jwk) }) },
  { id: 'wrong-aud', title: 'an assertion whose aud is not the token URL', tamper: async (o) => ({ audience: `${o.audience}/not-this-one` }) },
  { id: 'expired', title: 'an expired assertion', tamper: async () => ({ now: Math.floor(Date.now() / 1000) - 900, expiresIn: 300 }) },
  { id: 'exp-too-far', title: 'an assertion expiring more than 5 minutes ahead', tamper: async () => ({ expiresIn: 3600 }) },
  { id: 'iss-not-sub', title: 'an assertion whose iss differs from sub', tamper: async (o) => ({ sub: `${o.clientId}-other` }) },
  { id: 'unknown-client', title: 'an assertion from an unknown client', tamper: async (o) => ({ clientId: `unknown-${o.clientId}` }) },
];

function backendScope(ctx: CheckContext): string {
  return systemScope(ctx.target, 'Patient', 'rs');
}

export const tokenChecks: Check<SmartState>[] = [
  {
    id: 'smart.backend.token-response',
    title: 'a valid assertion gets a bearer token with expires_in, scope and Cache-Control: no-store',
    requirement: SMART_REQ.tokenResponse,
    async run(ctx) {
      const b = ctx.requireBackendCredentials();
      const assertion = await createClientAssertion({ clientId: b.clientId, jwk: b.privateJwk, audience: b.tokenEndpoint });
      const res = await postToken(ctx, b.tokenEndpoint, assertion, backendScope(ctx));
      ctx.expectStatus(res, 200, 'token request with a valid assertion');
      const t = (res.json ?? {}) as Record<string, unknown>;
      ctx.expect(typeof t.access_token === 'string' && t.access_token.length > 0, 'no access_token');
      ctx.expect(typeof t.token_type === 'string' && t.token_type.toLowerCase() === 'bearer', `token_type: expected "bearer" (RFC 6750), got ${describeValue(t.token_type)}`);
      ctx.expect(typeof t.expires_in === 'number' && t.expires_in > 0, `expires_in: expected a positive number of seconds, got ${describeValue(t.expires_in)}`);
      ctx.expect(typeof t.scope === 'string' && t.scope.length > 0, 'no scope in the token response');
      ctx.expect(/no-store/i.test(res.headers['cache-control'] ?? ''), `Cache-Control: expected no-store, got ${res.headers['cache-control'] ?? 'nothing'}`);
    },
  },
  ...BAD_ASSERTIONS.map(
    (bad): Check<SmartState> => ({
      id: `smart.backend.${bad.id}`,
      title: `${bad.title} is refused with invalid_client`,
      requirement: SMART_REQ.assertion,
      async run(ctx) {
        const b = ctx.requireBackendCredentials();
        const base: AssertionOptions = { clientId: b.clientId, jwk: b.privateJwk, audience: b.tokenEndpoint };
        const assertion = await createClientAssertion({ ...base, ...(await bad.tamper(base)) });
        expectInvalidClient(ctx, await postToken(ctx, b.tokenEndpoint, assertion, backendScope(ctx)), bad.title);
      },
    }),
  ),
  {
    id: 'smart.backend.replayed-jti',
    title: 'a replayed assertion (same jti) is refused with invalid_client',
    requirement: SMART_REQ.assertion,
    async run(ctx) {
      const b = ctx.requireBackendCredentials();
      const assertion = await createClientAssertion({ clientId: b.clientId, jwk: b.privateJwk, audience: b.tokenEndpoint, jti: randomUUID() });
      const first = await postToken(ctx, b.tokenEndpoint, assertion, backendScope(ctx));
      ctx.expectStatus(first, 200, 'first use of the assertion');
      expectInvalidClient(ctx, await postToken(ctx, b.tokenEndpoint, assertion, backendScope(ctx)), 'second use of the same assertion');
    },
  },
  {
    id: 'smart.introspection.active',
    title: 'introspection reports a valid token active and a forged one inactive',
    requirement: SMART_REQ.introspection,
    async run(ctx) {
      const endpoint = ctx.target.smartConfiguration?.introspection_endpoint ?? ctx.skip('smart-configuration declares no introspection_endpoint');
      // RFC 7662 protects the endpoint: the kit authenticates as its Backend Services client (private_key_jwt).
      const backend = ctx.requireBackendCredentials();
      const token = ctx.present(await ctx.tokens.token(ctx.scope), 'no token for the suite');
      const form = async (t: string): Promise<string> => new URLSearchParams({
        token: t,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await createClientAssertion({ clientId: backend.clientId, jwk: backend.privateJwk, audience: backend.tokenEndpoint }),
      }).toString();
      const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
      // The client authenticates with its assertion: no bearer token goes to the endpoint.
      const res = await ctx.http.request({ method: 'POST', path: endpoint, body: await form(token), headers, auth: 'none' });
      ctx.expectStatus(res, 200, 'introspection of a valid token');
      const info = (res.json ?? {}) as Record<string, unknown>;
      ctx.expectEqual(info.active, true, 'active');
      ctx.expect(typeof info.scope === 'string', 'no scope in the introspection response');
      ctx.expect(typeof info.exp === 'number', 'no exp in the introspection response');
      ctx.expectEqual(info.client_id, backend.clientId, 'client_id');
      const forged = await ctx.http.request({ method: 'POST', path: endpoint, body: await form('not-a-token'), headers, auth: 'none' });
      ctx.expectStatus(forged, 200, 'introspection of a forged token');
      ctx.expectEqual((forged.json as { active?: unknown } | undefined)?.active, false, 'active for a forged token');
    },
  },
  {
    id: 'smart.scopes.no-token',
    title: 'FHIR data without a token gets 401',
    requirement: SMART_REQ.scopes,
    async run(ctx) {
      if (!declaresSmartSecurity(ctx.capabilities) && !ctx.target.smartConfiguration) ctx.skip('the server declares no SMART security');
      const res = await ctx.http.get('Observation', { auth: 'none' });
      ctx.expectStatus(res, 401, 'GET Observation without a token');
    },
  },
  {
    id: 'smart.scopes.read-outside-scope',
    title: 'a Patient-only token cannot read or search Observations',
    requirement: SMART_REQ.scopes,
    async run(ctx, state) {
      const b = ctx.requireBackendCredentials();
      ctx.requireInteraction('Observation', 'create');
      const obs = await state.observation(ctx);
      const narrow = ctx.present(await ctx.tokens.token(systemScope(ctx.target, 'Patient', 'rs')), 'no Patient-only token');
      ctx.expect(b.clientId, 'no client');
      const read = await ctx.http.get(`Observation/${obs.id}`, { auth: { token: narrow } });
      ctx.expectStatus(read, [403, 404], 'read of an Observation with a Patient-only token');
      const found = await ctx.http.get('Observation', { query: { _id: obs.id }, auth: { token: narrow } });
      if (found.status !== 403) {
        ctx.expectStatus(found, 200, 'search of Observations with a Patient-only token');
        const leaked = (ctx.resource<Bundle>(found, 'Bundle').entry ?? []).filter((e) => e.resource?.resourceType === 'Observation');
        ctx.expectEqual(leaked.length, 0, 'Observations returned to a Patient-only token');
      }
    },
  },
  {
    id: 'smart.scopes.write-outside-scope',
    title: 'a read-only token cannot create',
    requirement: SMART_REQ.scopes,
    async run(ctx) {
      ctx.requireBackendCredentials();
      ctx.requireInteraction('Patient', 'create');
      const readOnly = ctx.present(await ctx.tokens.token(systemScope(ctx.target, 'Patient', 'rs')), 'no read-only token');
      const res = await ctx.http.request({ method: 'POST', path: 'Patient', body: samplePatient(ctx), auth: { token: readOnly } });
      ctx.expectStatus(res, 403, 'create with a read-only token');
    },
  },
];
