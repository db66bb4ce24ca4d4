import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { KeyValueStore } from '../store/engine.js';
import type { ClientRegistry, RegisteredClient } from './clients.js';
import { CLIENT_ASSERTION_ALGS } from './clients.js';
import { OAuthError } from './oauth-error.js';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** SMART Backend Services: an assertion expires at most 5 minutes after it is presented. */
export const MAX_ASSERTION_LIFETIME_S = 300;
/** Tolerated difference between the client's clock and ours. */
const CLOCK_SKEW_S = 30;

export interface ClientAssertionInput {
  client_assertion_type?: string;
  client_assertion?: string;
}

/**
 * Authenticates a client by its signed JWT assertion (RFC 7523, SMART Backend
 * Services): iss = sub = client id, aud = our token URL, exp within 5 minutes,
 * a jti never seen before (kept in kv namespace `jti` until the assertion expires,
 * so every replica refuses a replay), RS384 or ES384 with a registered key.
 */
export async function authenticateClientAssertion(
  input: ClientAssertionInput,
  deps: { clients: ClientRegistry; kv: KeyValueStore; tokenUrl: string; now?: () => number },
): Promise<RegisteredClient> {
  const { client_assertion_type: type, client_assertion: assertion } = input;
  if (!type || !assertion) throw new OAuthError('invalid_request', 'client_assertion_type and client_assertion are required');
  if (type !== JWT_BEARER_ASSERTION_TYPE) throw new OAuthError('invalid_client', `client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`);

  let iss: unknown;
  let sub: unknown;
  try {
    decodeProtectedHeader(assertion);
    ({ iss, sub } = decodeJwt(assertion));
  } catch {
    throw new OAuthError('invalid_client', 'client_assertion is not a well-formed JWT');
  }
  if (typeof iss !== 'string' || iss === '') throw new OAuthError('invalid_client', 'client_assertion has no iss');
  if (iss !== sub) throw new OAuthError('invalid_client', 'client_assertion iss and sub must both be the client id');
  const client = await deps.clients.get(iss);
  if (!client) throw new OAuthError('invalid_client', 'Unknown client');
  const method = client.tokenEndpointAuthMethod ?? 'private_key_jwt';
  const keys = deps.clients.keyResolver(client);
  if (method !== 'private_key_jwt' || !keys) throw new OAuthError('invalid_client', 'This client does not authenticate with private_key_jwt');

  const now = deps.now?.() ?? Date.now();
  let exp: number;
  let jti: unknown;
  try {
    const { payload } = await jwtVerify(assertion, keys, {
      algorithms: [...CLIENT_ASSERTION_ALGS],
      issuer: client.clientId,
      subject: client.clientId,
      audience: deps.tokenUrl,
      requiredClaims: ['exp', 'jti'],
      clockTolerance: CLOCK_SKEW_S,
      currentDate: new Date(now),
    });
    exp = payload.exp!;
    jti = payload.jti;
  } catch (err) {
    throw new OAuthError('invalid_client', describeAssertionFailure(err), 401, { cause: err });
  }
  if (exp > now / 1000 + MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S) {
    throw new OAuthError('invalid_client', 'client_assertion exp is more than 5 minutes ahead');
  }
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) throw new OAuthError('invalid_client', 'client_assertion jti must be a non-empty string');
  const fresh = await deps.kv.putIfAbsent('jti', `${client.clientId}:${jti}`, { usedAt: now }, { expiresAt: (exp + CLOCK_SKEW_S) * 1000 });
  if (!fresh) throw new OAuthError('invalid_client', 'client_assertion jti was already used');
  return client;
}

function describeAssertionFailure(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'client_assertion has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return err.claim === 'aud' ? 'client_assertion aud must be the token endpoint URL' : `client_assertion "${err.claim}" claim is not acceptable`;
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return `client_assertion must be signed with ${CLIENT_ASSERTION_ALGS.join(' or ')}`;
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'No key registered for this client matches the client_assertion header (kid, alg)';
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys) return 'Several registered keys match the client_assertion header; set a kid';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'client_assertion signature is invalid';
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JOSEError && err.code === 'ERR_JOSE_GENERIC') {
    return 'The client key set could not be fetched';
  }
  return 'client_assertion is invalid';
}
