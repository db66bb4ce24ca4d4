import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import type { JWK } from 'jose';
import { request } from 'undici';

/** SMART Backend Services (client_credentials + private_key_jwt), as a client. */

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface PrivateKeyFile {
  privateJwk: JWK;
  /** Present when the file is the server's dev-client.json shape. */
  clientId?: string;
  tokenUrl?: string;
}

/**
 * Accepts a bare private JWK, or an object with `privateJwk` (and optionally
 * `clientId`, `tokenUrl`), so a server's generated client file can be used as is.
 */
export async function loadPrivateKeyFile(file: string): Promise<PrivateKeyFile> {
  const parsed = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  const jwk = (parsed.privateJwk ?? parsed) as JWK;
  if (typeof jwk !== 'object' || !jwk.kty) throw new Error(`${file} holds no JWK (expected a private JWK or { privateJwk })`);
  if (!jwk.d) throw new Error(`${file}: the JWK is not a private key`);
  if (jwk.alg !== 'RS384' && jwk.alg !== 'ES384') throw new Error(`${file}: the JWK alg must be RS384 or ES384 (found ${String(jwk.alg)})`);
  if (!jwk.kid) throw new Error(`${file}: the JWK needs a kid`);
  return {
    privateJwk: jwk,
    clientId: typeof parsed.clientId === 'string' ? parsed.clientId : undefined,
    tokenUrl: typeof parsed.tokenUrl === 'string' ? parsed.tokenUrl : undefined,
  };
}

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
}): Promise<TokenResponse> {
  const assertion = await createClientAssertion({ clientId: o.clientId, jwk: o.jwk, audience: o.tokenEndpoint });
  const res = await request(o.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: tokenRequestBody(assertion, o.scope),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`token endpoint answered ${res.statusCode}: ${text.slice(0, 300)}`);
  const json = JSON.parse(text) as TokenResponse;
  if (typeof json.access_token !== 'string') throw new Error('token response holds no access_token');
  return json;
}
