import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AuthServer } from '../auth-server.js';
import { OAuthError } from '../oauth-error.js';
import { authenticateClient } from './client-auth.js';
import type { Grant } from './grant.js';
import { verifyPkce } from './pkce.js';
import { isHolderInGoodStanding } from './token-standing.js';
import type { ConsentStanding } from './token-standing.js';
import type { RefreshTokens } from './refresh-tokens.js';
import type { TokenForm, TokenResponse } from './token-types.js';
import { issueUserTokens } from './user-tokens.js';

/** What an authorization code stands for until it is exchanged (once). */
export interface CodeRecord {
  grant: Grant;
  redirectUri: string;
  codeChallenge: string;
  /** The family of the tokens its exchange will issue, chosen with the code (absent in codes of earlier releases). */
  familyId?: string;
}

const CODES = 'authorization-codes';
/**
 * A code's digest → the family of the tokens its exchange issues, so that a
 * replay revokes them. Written when the code is issued, not when it is spent:
 * a replay racing the first exchange (code already taken, tokens not yet
 * issued) then still finds the family. The namespace keeps its earlier name,
 * which replicas of the previous release also read.
 */
const CODE_FAMILIES = 'authorization-codes-spent';
/** Codes live one minute (RFC 6749 §4.1.2 recommends at most ten). */
export const CODE_LIFETIME_MS = 60_000;
const digest = (code: string) => createHash('sha256').update(code).digest('base64url');

export async function issueAuthorizationCode(record: Omit<CodeRecord, 'familyId'>, auth: AuthServer): Promise<string> {
  const code = randomBytes(32).toString('base64url');
  const key = digest(code);
  const familyId = randomUUID();
  // Same lifetime as the code; the family is written first, so it exists whenever the code can be taken.
  const expiresAt = auth.now() + CODE_LIFETIME_MS;
  await auth.kv.put(CODE_FAMILIES, key, { familyId }, { expiresAt });
  await auth.kv.put(CODES, key, { ...record, familyId }, { expiresAt });
  return code;
}

/**
 * authorization_code grant with PKCE S256: the code is taken from the store
 * first (so it is spent even when the rest fails), then client, redirect URI
 * and verifier must all match. A code presented again revokes every token its
 * first exchange issued (RFC 6749 §4.1.2): the code leaked, and whoever holds
 * those tokens may be the thief.
 */
export async function authorizationCodeGrant(
  request: Pick<FastifyRequest, 'headers'>,
  form: TokenForm,
  auth: AuthServer,
  refresh: RefreshTokens,
  standing?: ConsentStanding,
): Promise<TokenResponse> {
  const { client } = await authenticateClient(request, form, auth, { allowPublic: true });
  if (!form.code) throw new OAuthError('invalid_request', 'code is required');
  if (!form.redirect_uri) throw new OAuthError('invalid_request', 'redirect_uri is required');
  const key = digest(form.code);
  const record = await auth.kv.take<CodeRecord>(CODES, key);
  if (!record) {
    // The code is gone but its family is not: it was taken by an exchange (finished or under way).
    const family = await auth.kv.get<{ familyId: string }>(CODE_FAMILIES, key);
    if (family) {
      await refresh.revokeFamily(family.familyId);
      throw new OAuthError('invalid_grant', 'The authorization code was already used: every token issued for it is now revoked');
    }
    throw new OAuthError('invalid_grant', 'The authorization code is unknown, expired or already used');
  }
  const familyId = record.familyId ?? (await noteFamilyOfOlderCode(key, auth));
  if (record.grant.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'The authorization code was issued to another client');
  if (record.redirectUri !== form.redirect_uri) throw new OAuthError('invalid_grant', 'redirect_uri differs from the one of the authorization request');
  if (!verifyPkce(form.code_verifier, record.codeChallenge)) {
    throw new OAuthError('invalid_grant', 'code_verifier is missing or does not match the code_challenge (S256)');
  }
  // A code of an earlier release has no time of approval: taken as now, a minute at most after it.
  const grant: Grant & { grantedAt: number } = { ...record.grant, grantedAt: record.grant.grantedAt ?? auth.now() };
  // Withdrawn within the code's minute (the app from the catalogue, or the holder's Consent): no tokens.
  if (!(await isHolderInGoodStanding(grant, auth, standing))) {
    throw new OAuthError('invalid_grant', 'The authorization was withdrawn (the app from the catalogue, or the holder\'s consent) before the code was exchanged');
  }
  const response = await issueUserTokens(grant, auth, refresh, { familyId });
  if (await refresh.isFamilyRevoked(familyId)) {
    // A replay came in while these tokens were being issued: they go with the rest.
    await refresh.revokeFamily(familyId);
    throw new OAuthError('invalid_grant', 'The authorization code was already used: every token issued for it is now revoked');
  }
  return response;
}

/** A code issued by a replica of the previous release has no family yet: noted now, as that release did. */
async function noteFamilyOfOlderCode(key: string, auth: AuthServer): Promise<string> {
  const familyId = randomUUID();
  await auth.kv.put(CODE_FAMILIES, key, { familyId }, { expiresAt: auth.now() + CODE_LIFETIME_MS });
  return familyId;
}
