import { declaresSmartSecurity, oauthUri } from '../../runner/capabilities.js';
import type { CheckContext } from '../../runner/check-context.js';
import { requiredFieldProblems } from '../../runner/smart-configuration.js';
import type { Check } from '../../runner/suite.js';
import type { SmartConfiguration } from '../../runner/types.js';
import { SMART_REQ } from './requirements.js';

async function smartConfiguration(ctx: CheckContext): Promise<SmartConfiguration> {
  const res = await ctx.http.get('.well-known/smart-configuration', { auth: 'none', headers: { accept: 'application/json' } });
  if (res.status === 404 && !oauthUri(ctx.capabilities, 'token')) ctx.skip('the server declares no SMART authorization (no smart-configuration, no oauth-uris)');
  ctx.expectStatus(res, 200, 'GET .well-known/smart-configuration');
  ctx.expect(/json/.test(res.headers['content-type'] ?? ''), `Content-Type is not JSON: ${res.headers['content-type']}`);
  const body = res.json as SmartConfiguration | undefined;
  const c = ctx.present(body && typeof body === 'object' && !Array.isArray(body) ? body : undefined, 'smart-configuration is not a JSON object');
  // A JSON answer naming no token endpoint, on a server that declares no SMART security, is no SMART configuration (a catch-all route).
  if (!ctx.target.smartConfiguration && !declaresSmartSecurity(ctx.capabilities)) {
    ctx.skip(`the server declares no SMART authorization, and the JSON at .well-known/smart-configuration is no SMART configuration (${requiredFieldProblems(c).join('; ')})`);
  }
  return c;
}

function claimsAuthorizationCode(c: SmartConfiguration): boolean {
  return (c.grant_types_supported ?? []).includes('authorization_code') || (c.capabilities ?? []).some((x) => x === 'launch-ehr' || x === 'launch-standalone');
}

export const discoveryChecks: Check<unknown>[] = [
  {
    id: 'smart.discovery.required-fields',
    title: 'smart-configuration has the required fields',
    requirement: SMART_REQ.discovery,
    async run(ctx) {
      const c = await smartConfiguration(ctx);
      // All of them at once: an integrator fixing the document should not discover them one run at a time.
      const problems = requiredFieldProblems(c);
      ctx.expect(problems.length === 0, `smart-configuration: ${problems.join('; ')}`);
    },
  },
  {
    id: 'smart.discovery.claimed-fields',
    title: 'fields required by the claimed capabilities are present',
    requirement: SMART_REQ.discovery,
    async run(ctx) {
      const c = await smartConfiguration(ctx);
      const caps = c.capabilities ?? [];
      if (caps.includes('launch-ehr') || caps.includes('launch-standalone') || (c.grant_types_supported ?? []).includes('authorization_code')) {
        ctx.expect(typeof c.authorization_endpoint === 'string', 'launch / authorization_code claimed but no authorization_endpoint');
      }
      if (caps.includes('sso-openid-connect')) {
        ctx.expect(typeof c.issuer === 'string', 'sso-openid-connect claimed but no issuer');
        ctx.expect(typeof c.jwks_uri === 'string', 'sso-openid-connect claimed but no jwks_uri');
      }
      if ((c.grant_types_supported ?? []).includes('client_credentials')) {
        const algs = c.token_endpoint_auth_signing_alg_values_supported;
        if (algs) ctx.expect(algs.includes('RS384') || algs.includes('ES384'), `client_credentials claimed but neither RS384 nor ES384 in ${JSON.stringify(algs)}`);
      }
      const csToken = oauthUri(ctx.capabilities, 'token');
      if (csToken) ctx.expectEqual(csToken, c.token_endpoint, 'CapabilityStatement oauth-uris token vs smart-configuration token_endpoint');
    },
  },
  {
    id: 'smart.discovery.pkce-methods',
    title: 'code_challenge_methods_supported includes S256 and never plain',
    requirement: SMART_REQ.pkceMethods,
    async run(ctx) {
      const c = await smartConfiguration(ctx);
      const methods = c.code_challenge_methods_supported ?? [];
      ctx.expect(!methods.includes('plain'), `plain is offered: ${JSON.stringify(methods)}`);
      if (claimsAuthorizationCode(c)) ctx.expect(methods.includes('S256'), `authorization code claimed but S256 missing: ${JSON.stringify(methods)}`);
    },
  },
  {
    id: 'smart.pkce.plain-refused',
    title: 'authorize refuses code_challenge_method=plain and a missing code_challenge',
    requirement: SMART_REQ.pkceAuthorize,
    async run(ctx) {
      const c = await smartConfiguration(ctx);
      if (!claimsAuthorizationCode(c)) ctx.skip('the server does not claim the authorization code grant');
      const authorize = c.authorization_endpoint ?? ctx.fail('authorization code claimed but no authorization_endpoint');
      const app = ctx.appClient ?? ctx.skip('needs a registered app client: --app-client-id and --redirect-uri');
      for (const pkce of [{ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }, {}] as Record<string, string>[]) {
        const query = {
          response_type: 'code', client_id: app.clientId, redirect_uri: app.redirectUri, scope: 'launch/patient patient/Patient.rs openid fhirUser',
          state: `st-${ctx.runId}`, aud: ctx.base, ...pkce,
        };
        const res = await ctx.http.request({ method: 'GET', path: authorize, query, auth: 'none', headers: { accept: 'text/html' } });
        const what = pkce.code_challenge_method ? 'authorize with code_challenge_method=plain' : 'authorize without code_challenge';
        const location = res.headers.location ?? '';
        ctx.expect(!/[?&]code=/.test(location), `${what}: the server issued an authorization code (${location})`);
        const refused = res.status === 400 || ((res.status === 302 || res.status === 303) && /[?&#]error=/.test(location));
        ctx.expect(refused, `${what}: expected 400 or a redirect with error=, got ${res.status}${location ? ` to ${location}` : ''}`);
      }
    },
  },
];
