import type { FastifyRequest } from 'fastify';
import type { AuthServer } from '../auth-server.js';
import { OAuthError } from '../oauth-error.js';
import { formatScopes, parseScopes, scopeCovers } from '../scopes.js';
import { parseRequestedScopes } from './client-credentials.js';
import { authenticateClient } from './client-auth.js';
import type { RefreshTokens } from './refresh-tokens.js';
import type { TokenForm, TokenResponse } from './token-types.js';
import type { Grant } from './grant.js';
import { hasStandingConsent } from './token-standing.js';
import type { ConsentStanding } from './token-standing.js';
import { issueUserTokens } from './user-tokens.js';

/**
 * refresh_token grant: rotates the token; an optional `scope` may only narrow
 * the grant. A token of an authorization that a withdrawal ended (the app's,
 * from the catalogue, or the holder's Consent for it, checked with `standing`)
 * is refused for good, even once the app is referenced or consented again.
 */
export async function refreshTokenGrant(
  request: Pick<FastifyRequest, 'headers'>,
  form: TokenForm,
  auth: AuthServer,
  refresh: RefreshTokens,
  standing?: ConsentStanding,
): Promise<TokenResponse> {
  const { client } = await authenticateClient(request, form, auth, { allowPublic: true });
  if (!form.refresh_token) throw new OAuthError('invalid_request', 'refresh_token is required');
  if (form.scope) {
    // A scope beyond the grant is refused before the token is spent: the client keeps its refresh token.
    const live = await refresh.lookup(form.refresh_token);
    if (live?.grant.clientId === client.clientId) narrowedScope(live.grant.scope, form.scope);
  }
  const record = await refresh.consume(form.refresh_token, client.clientId);
  // A grant of an earlier release has no time of approval: its refresh token's issue stands for it.
  const grant: Grant & { grantedAt: number } = { ...record.grant, grantedAt: record.grant.grantedAt ?? record.issuedAt };
  if (!(await auth.clients.honours(grant.clientId, grant.grantedAt))) {
    throw new OAuthError('invalid_grant', 'The app was withdrawn from the catalogue after this authorization: a new authorization is needed');
  }
  // Withdrawing an app's Consent stops its refresh tokens at once, and for good.
  if (!(await hasStandingConsent(grant, auth, standing))) {
    throw new OAuthError('invalid_grant', 'The holder withdrew their consent to this app: a new authorization is needed');
  }
  // RFC 6749 §6: `scope` narrows this access token only; the new refresh token keeps the whole grant.
  const accessScope = form.scope ? narrowedScope(grant.scope, form.scope) : undefined;
  return issueUserTokens(grant, auth, refresh, { familyId: record.familyId, ...(accessScope ? { accessScope } : {}) });
}

/**
 * The scope asked at refresh, when every part of it lies within the grant;
 * else `invalid_scope` naming what exceeds it (RFC 6749 §6: no scope not
 * originally granted), rather than quietly granting less.
 */
function narrowedScope(grantScope: string, askedScope: string): string {
  const held = parseScopes(grantScope);
  const asked = parseRequestedScopes(askedScope);
  const beyond = [
    ...asked.resources.filter((r) => !held.resources.some((h) => scopeCovers(h, r))).map((r) => r.raw),
    ...[...asked.special].filter((s) => !held.special.has(s)),
    ...asked.ignored,
  ];
  if (beyond.length > 0) throw new OAuthError('invalid_scope', `The requested scope exceeds the original grant: ${beyond.join(' ').slice(0, 200)}`);
  const scope = formatScopes({ resources: asked.resources, special: asked.special });
  if (scope === '') throw new OAuthError('invalid_scope', 'scope is empty');
  return scope;
}
