import type { AuthServer } from '../auth-server.js';
import type { RegisteredClient } from '../clients.js';
import type { Principal } from '../principal.js';
import { isHolderInGoodStanding } from './token-standing.js';
import type { ConsentStanding } from './token-standing.js';

/** RFC 7662 response, plus SMART's launch context. */
export interface IntrospectionResponse {
  active: boolean;
  scope?: string;
  client_id?: string;
  sub?: string;
  exp?: number;
  iss?: string;
  aud?: string;
  token_type?: 'Bearer' | 'refresh_token';
  patient?: string;
  fhirUser?: string;
}

/**
 * Describes a token to an authenticated client (RFC 7662 §2.1: the server
 * decides who may learn what). A client learns about the tokens issued to
 * itself; only a registered resource server (`resourceServer` in
 * CLIENTS_FILE: an API that accepts this server's tokens and must know whom
 * they stand for) learns about any token. For a token of another client, and
 * for every invalid, expired, revoked or withdrawn one, the answer is
 * `{ active: false }` (§2.2), so that nobody learns from it which patient and
 * which person another client's token stands for (§4).
 */
export async function introspect(
  token: string,
  hint: string | undefined,
  caller: RegisteredClient,
  auth: AuthServer,
  standing?: ConsentStanding,
): Promise<IntrospectionResponse> {
  const isResourceServer = caller.resourceServer === true && auth.clients.isFileClient(caller.clientId);
  const mayRead = (clientId: string) => isResourceServer || caller.clientId === clientId;
  if (hint !== 'refresh_token') {
    const principal = await verifyQuietly(token, auth);
    if (principal) return mayRead(principal.clientId) ? describeAccess(principal, auth, standing) : INACTIVE;
  }
  const record = await auth.refreshTokens.lookup(token);
  if (record && mayRead(record.grant.clientId)) {
    // The refresh grant would refuse it (withdrawn app or Consent): inactive, not merely unusable.
    const holder = { ...record.grant, grantedAt: record.grant.grantedAt ?? record.issuedAt };
    if (!(await isHolderInGoodStanding(holder, auth, standing))) return INACTIVE;
    return {
      active: true,
      token_type: 'refresh_token',
      scope: record.grant.scope,
      client_id: record.grant.clientId,
      sub: record.grant.accountId,
      exp: Math.floor(record.expiresAt / 1000),
      iss: auth.config.publicUrl,
      ...(record.grant.patient ? { patient: record.grant.patient } : {}),
      ...(record.grant.fhirUser ? { fhirUser: record.grant.fhirUser } : {}),
    };
  }
  if (hint === 'refresh_token') {
    const principal = await verifyQuietly(token, auth);
    if (principal && mayRead(principal.clientId)) return describeAccess(principal, auth, standing);
  }
  return INACTIVE;
}

const INACTIVE: IntrospectionResponse = Object.freeze({ active: false });

/** An access token the API would accept; inactive when the API would refuse it (withdrawn app, withdrawn Consent). */
async function describeAccess(p: Principal, auth: AuthServer, standing: ConsentStanding | undefined): Promise<IntrospectionResponse> {
  if (!(await isHolderInGoodStanding({ ...p, grantedAt: p.grantedAt ?? 0 }, auth, standing))) return INACTIVE;
  return {
    active: true,
    token_type: 'Bearer',
    scope: p.scope,
    client_id: p.clientId,
    sub: p.subject,
    exp: Math.floor(p.expiresAt / 1000),
    iss: auth.config.publicUrl,
    aud: auth.config.fhirBase,
    ...(p.patient ? { patient: p.patient } : {}),
    ...(p.fhirUser ? { fhirUser: p.fhirUser } : {}),
  };
}

export async function verifyQuietly(token: string, auth: AuthServer): Promise<Principal | undefined> {
  if (token.split('.').length !== 3) return undefined;
  try {
    return await auth.accessTokens.verify(token);
  } catch {
    return undefined;
  }
}

/**
 * RFC 7009: revokes a refresh token (its whole family) or an access token the
 * caller itself holds. Unknown and foreign tokens are ignored (the answer is the
 * same 200, so nothing is learned by probing).
 */
export async function revoke(token: string, hint: string | undefined, caller: RegisteredClient, auth: AuthServer): Promise<void> {
  if (hint !== 'access_token') {
    const record = await auth.refreshTokens.lookup(token);
    if (record) {
      if (record.grant.clientId === caller.clientId) await auth.refreshTokens.revokeFamily(record.familyId);
      return;
    }
  }
  const principal = await verifyQuietly(token, auth);
  if (principal && principal.clientId === caller.clientId) await auth.accessTokens.revoke(principal.tokenId, principal.expiresAt);
  if (!principal && hint === 'access_token') {
    const record = await auth.refreshTokens.lookup(token);
    if (record && record.grant.clientId === caller.clientId) await auth.refreshTokens.revokeFamily(record.familyId);
  }
}
