import { randomUUID } from 'node:crypto';
import type { AuthServer } from '../auth-server.js';
import { parseScopes } from '../scopes.js';
import type { Grant } from './grant.js';
import { issueIdToken } from './id-tokens.js';
import { OFFLINE_LIFETIME_MS, ONLINE_LIFETIME_MS } from './refresh-tokens.js';
import type { RefreshTokens } from './refresh-tokens.js';
import type { TokenResponse } from './token-types.js';

export interface UserTokenOptions {
  /** The family of the sign-in (a code's, a refresh token's); a new one when absent. */
  familyId?: string;
  /** A narrower scope for the access token (a refresh with `scope`, within the grant); the grant's when absent. */
  accessScope?: string;
}

/**
 * The token response for a person's grant (authorization code or refresh):
 * access token, launch context, id_token with `openid`, a refresh token of the
 * same family with `offline_access` or `online_access`. With a `familyId` the
 * access token is noted in that family, refresh token or not, so that revoking
 * the family (a reused refresh token, a replayed code) revokes it. The refresh
 * token always carries the whole grant, whatever `accessScope` (RFC 6749 §6).
 */
export async function issueUserTokens(grant: Grant, auth: AuthServer, refresh: RefreshTokens, options: UserTokenOptions = {}): Promise<TokenResponse> {
  const scope = options.accessScope ?? grant.scope;
  const granted = parseScopes(grant.scope).special;
  const special = parseScopes(scope).special;
  const withRefresh = granted.has('offline_access') || granted.has('online_access');
  // One family per sign-in: its refresh tokens and the access tokens issued with them.
  const family = options.familyId ?? (withRefresh ? randomUUID() : undefined);
  const issued = await auth.accessTokens.issue({
    clientId: grant.clientId,
    subject: grant.accountId,
    kind: grant.kind,
    scope,
    ...(grant.patient ? { patient: grant.patient } : {}),
    ...(grant.fhirUser ? { fhirUser: grant.fhirUser } : {}),
    ...(grant.grantedAt !== undefined ? { grantedAt: grant.grantedAt } : {}),
  });
  const response: TokenResponse = { access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn, scope };
  if (grant.patient) {
    response.patient = grant.patient;
    response.need_patient_banner = true;
  }
  if (special.has('openid')) response.id_token = await issueIdToken(grant, auth, special.has('fhirUser'));
  if (family) await refresh.recordAccessToken(family, issued.jti, issued.exp * 1000);
  if (family && withRefresh) {
    const lifetime = granted.has('offline_access') ? OFFLINE_LIFETIME_MS : ONLINE_LIFETIME_MS;
    response.refresh_token = await refresh.issue(grant, lifetime, family);
  }
  return response;
}
