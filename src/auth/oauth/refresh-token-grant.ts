import type { FastifyRequest } from 'fastify';
import type { AuthServer } from '../auth-server.js';
import { OAuthError } from '../oauth-error.js';
import { formatScopes, intersectScopes } from '../scopes.js';
import { parseRequestedScopes } from './client-credentials.js';
import { authenticateClient } from './client-auth.js';
import type { RefreshTokens } from './refresh-tokens.js';
import type { TokenForm, TokenResponse } from './token-types.js';
import { issueUserTokens } from './user-tokens.js';

/** refresh_token grant: rotates the token; an optional `scope` may only narrow the grant. */
export async function refreshTokenGrant(
  request: Pick<FastifyRequest, 'headers'>,
  form: TokenForm,
  auth: AuthServer,
  refresh: RefreshTokens,
): Promise<TokenResponse> {
  const { client } = await authenticateClient(request, form, auth, { allowPublic: true });
  if (!form.refresh_token) throw new OAuthError('invalid_request', 'refresh_token is required');
  const record = await refresh.consume(form.refresh_token, client.clientId);
  let grant = record.grant;
  // Withdrawing an app's Consent stops its refresh tokens at once.
  if (grant.kind === 'app' && grant.patient && auth.appConsents && !(await auth.appConsents.isActive(grant.patient, grant.clientId))) {
    throw new OAuthError('invalid_grant', 'The holder withdrew their consent to this app');
  }
  if (form.scope) {
    const held = parseRequestedScopes(grant.scope);
    const asked = parseRequestedScopes(form.scope);
    const resources = intersectScopes(asked.resources, held.resources);
    const special = [...asked.special].filter((s) => held.special.has(s));
    if (resources.length === 0 && special.length === 0) throw new OAuthError('invalid_scope', 'The requested scope exceeds the original grant');
    grant = { ...grant, scope: formatScopes({ resources, special }) };
  }
  return issueUserTokens(grant, auth, refresh, record.familyId);
}
