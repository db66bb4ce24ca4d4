import type { AuthServer } from '../auth-server.js';
import { authenticateClientAssertion } from '../client-assertion.js';
import { OAuthError } from '../oauth-error.js';
import { checkScopeRestrictions } from '../scope-restrictions.js';
import { formatScopes, intersectScopes, InvalidScopeError, parseScopes } from '../scopes.js';
import type { ParsedScopes } from '../scopes.js';
import type { TokenForm, TokenResponse } from './token-types.js';

/**
 * SMART Backend Services (client_credentials + private_key_jwt). The client gets
 * the part of the requested scopes its registration allows; nothing at all is
 * `invalid_scope`.
 */
export async function clientCredentialsGrant(form: TokenForm, auth: AuthServer, authorization?: string): Promise<TokenResponse> {
  // RFC 6749 §5.2: a client that authenticated through the Authorization header and failed is told so with a 401.
  if (!form.client_assertion && /^Basic\b/i.test(authorization ?? '')) {
    throw new OAuthError('invalid_client', 'client_credentials takes a private_key_jwt client_assertion (SMART Backend Services), not Basic credentials');
  }
  const client = await authenticateClientAssertion(form, { clients: auth.clients, kv: auth.kv, tokenUrl: auth.tokenUrl, now: auth.now });
  // As for the other grants (client-auth.ts): a client_id sent along must name the same client.
  if (form.client_id && form.client_id !== client.clientId) throw new OAuthError('invalid_client', 'client_id does not match the client_assertion');
  if (client.kind === 'app') throw new OAuthError('unauthorized_client', 'This client may not use the client_credentials grant');
  if (!form.scope?.trim()) throw new OAuthError('invalid_request', 'scope is required');
  const requested = parseRequestedScopes(form.scope);
  const granted = intersectScopes(requested.resources.filter((s) => s.context === 'system'), parseScopes(client.scope).resources);
  if (granted.length === 0) throw new OAuthError('invalid_scope', 'None of the requested scopes is allowed for this client');
  const scope = formatScopes({ resources: granted });
  const issued = await auth.accessTokens.issue({
    clientId: client.clientId,
    subject: client.clientId,
    kind: client.kind === 'admin' ? 'admin' : 'system',
    scope,
  });
  return { access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn, scope };
}

/**
 * The scopes a client asks for; `invalid_scope` when one is malformed, names
 * an unknown type, or carries a restriction the policy cannot enforce.
 */
export function parseRequestedScopes(scope: string): ParsedScopes {
  try {
    const parsed = parseScopes(scope);
    checkScopeRestrictions(parsed.resources);
    return parsed;
  } catch (err) {
    if (err instanceof InvalidScopeError) throw new OAuthError('invalid_scope', err.message, 400, { cause: err });
    throw err;
  }
}
