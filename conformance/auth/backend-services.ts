import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import type { JWK } from 'jose';
import { DEFAULT_TIMEOUT_MS, sendWithDeadline } from '../runner/timed-request.js';

/** SMART Backend Services (client_credentials + private_key_jwt), as a client. */

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface AssertionOptions {
  clientId: string;
  jwk: JWK;
  audience: string;
  /** Seconds since the epoch; the assertion's clock. */
  now?: number;
  expiresIn?: number;
  jti?: string;
  iss?: string;
  sub?: string;
  /** Sign with this key instead, keeping the header's kid: a bad signature. */
  signingJwk?: JWK;
}

export async function createClientAssertion(o: AssertionOptions): Promise<string> {
  const alg = o.jwk.alg ?? 'RS384';
  const key = await importJWK(o.signingJwk ?? o.jwk, alg);
  const now = o.now ?? Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg, kid: o.jwk.kid, typ: 'JWT' })
    .setIssuer(o.iss ?? o.clientId)
    .setSubject(o.sub ?? o.clientId)
    .setAudience(o.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expiresIn ?? 240))
    .setJti(o.jti ?? randomUUID())
    .sign(key);
}

export function tokenRequestBody(assertion: string, scope: string): string {
  return new URLSearchParams({
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: assertion,
  }).toString();
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  scope?: string;
  [key: string]: unknown;
}

export async function requestBackendToken(o: {
  tokenEndpoint: string;
  clientId: string;
  jwk: JWK;
  scope: string;
  /** The deadline of the whole token request. */
  timeoutMs?: number;
}): Promise<TokenResponse> {
  const assertion = await createClientAssertion({ clientId: o.clientId, jwk: o.jwk, audience: o.tokenEndpoint });
  const res = await sendWithDeadline(o.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: tokenRequestBody(assertion, o.scope),
  }, o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const text = res.bytes.toString('utf8');
  if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}: ${text.slice(0, 300)}`);
  let json: TokenResponse;
  try {
    json = JSON.parse(text) as TokenResponse;
  } catch {
    throw new Error(`token endpoint answered 200 without JSON: ${text.slice(0, 120)}`);
  }
  if (typeof json?.access_token !== 'string') throw new Error('token response holds no access_token');
  return json;
}
