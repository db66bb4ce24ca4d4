import { SignJWT } from 'jose';
import type { AuthServer } from '../auth-server.js';
import { SERVER_SIGNING_ALG } from '../keys.js';
import type { Grant } from './grant.js';

/** OpenID Connect id_token (RS256, server key) for a grant holding `openid`. */
export async function issueIdToken(grant: Grant, auth: AuthServer, withFhirUser: boolean): Promise<string> {
  const signing = await auth.keys.signingKey();
  const iat = Math.floor(auth.now() / 1000);
  const claims: Record<string, unknown> = { auth_time: grant.authTime };
  if (grant.nonce) claims.nonce = grant.nonce;
  if (withFhirUser && grant.fhirUser) claims.fhirUser = `${auth.config.fhirBase}/${grant.fhirUser}`;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: SERVER_SIGNING_ALG, kid: signing.kid, typ: 'JWT' })
    .setIssuer(auth.config.publicUrl)
    .setSubject(grant.accountId)
    .setAudience(grant.clientId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + auth.config.accessTokenSeconds)
    .sign(signing.key);
}
