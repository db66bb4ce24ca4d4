import type { FastifyRequest } from 'fastify';
import type { AuthServer } from '../auth-server.js';
import { authenticateClientAssertion } from '../client-assertion.js';
import type { RegisteredClient } from '../clients.js';
import { OAuthError } from '../oauth-error.js';
import { verifyPassword } from './accounts.js';
import type { TokenForm } from './token-types.js';

export type ClientAuthMethod = 'private_key_jwt' | 'client_secret_basic' | 'none';

/**
 * Authenticates the client calling the token, introspection or revocation
 * endpoint by exactly one method: a signed assertion (private_key_jwt), HTTP
 * Basic with its secret (client_secret_basic), or — only where `allowPublic` —
 * a bare client_id of a client registered as public.
 */
export async function authenticateClient(
  request: Pick<FastifyRequest, 'headers'>,
  form: TokenForm,
  auth: AuthServer,
  options: { allowPublic: boolean },
): Promise<{ client: RegisteredClient; method: ClientAuthMethod }> {
  const basic = parseBasic(request.headers.authorization);
  if (basic && form.client_assertion) throw new OAuthError('invalid_request', 'Use one client authentication method, not several');
  if (form.client_assertion || form.client_assertion_type) {
    const client = await authenticateClientAssertion(form, { clients: auth.clients, kv: auth.kv, tokenUrl: auth.tokenUrl, now: auth.now });
    if (form.client_id && form.client_id !== client.clientId) throw new OAuthError('invalid_client', 'client_id does not match the client_assertion');
    return { client, method: 'private_key_jwt' };
  }
  if (basic) {
    const client = await auth.clients.get(basic.clientId);
    if (form.client_id && form.client_id !== basic.clientId) throw new OAuthError('invalid_client', 'client_id does not match the Authorization header');
    const ok = client?.tokenEndpointAuthMethod === 'client_secret_basic' && client.clientSecretHash !== undefined
      && (await verifyPassword(basic.secret, client.clientSecretHash));
    if (!ok || !client) throw new OAuthError('invalid_client', 'Client authentication failed');
    return { client, method: 'client_secret_basic' };
  }
  if (form.client_id) {
    const client = await auth.clients.get(form.client_id);
    if (!client) throw new OAuthError('invalid_client', 'Unknown client');
    if ((client.tokenEndpointAuthMethod ?? 'private_key_jwt') !== 'none') throw new OAuthError('invalid_client', 'This client must authenticate');
    if (!options.allowPublic) throw new OAuthError('invalid_client', 'A public client may not call this endpoint');
    return { client, method: 'none' };
  }
  throw new OAuthError('invalid_client', 'Client authentication is required');
}

/** RFC 6749 §2.3.1: id and secret are form-encoded, then joined by ':' and base64-encoded. */
function parseBasic(header: string | undefined): { clientId: string; secret: string } | undefined {
  const match = header ? /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header) : null;
  if (!match) {
    if (header && /^Basic\b/i.test(header)) throw new OAuthError('invalid_client', 'Malformed Basic authorization');
    return undefined;
  }
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new OAuthError('invalid_client', 'Malformed Basic authorization');
  try {
    const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { clientId: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
  } catch {
    throw new OAuthError('invalid_client', 'Malformed Basic authorization');
  }
}
