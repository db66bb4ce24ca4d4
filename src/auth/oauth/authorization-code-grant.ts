import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AuthServer } from '../auth-server.js';
import { OAuthError } from '../oauth-error.js';
import { authenticateClient } from './client-auth.js';
import type { Grant } from './grant.js';
import { verifyPkce } from './pkce.js';
import type { RefreshTokens } from './refresh-tokens.js';
import type { TokenForm, TokenResponse } from './token-types.js';
import { issueUserTokens } from './user-tokens.js';

/** What an authorization code stands for until it is exchanged (once). */
export interface CodeRecord {
  grant: Grant;
  redirectUri: string;
  codeChallenge: string;
}

const CODES = 'authorization-codes';
/** A spent code's digest → the family of the tokens its exchange issued, so that a replay revokes them. */
const SPENT_CODES = 'authorization-codes-spent';
/** Codes live one minute (RFC 6749 §4.1.2 recommends at most ten). */
export const CODE_LIFETIME_MS = 60_000;
const digest = (code: string) => createHash('sha256').update(code).digest('base64url');

export async function issueAuthorizationCode(record: CodeRecord, auth: AuthServer): Promise<string> {
  const code = randomBytes(32).toString('base64url');
  await auth.kv.put(CODES, digest(code), record, { expiresAt: auth.now() + CODE_LIFETIME_MS });
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
): Promise<TokenResponse> {
  const { client } = await authenticateClient(request, form, auth, { allowPublic: true });
  if (!form.code) throw new OAuthError('invalid_request', 'code is required');
  if (!form.redirect_uri) throw new OAuthError('invalid_request', 'redirect_uri is required');
  const key = digest(form.code);
  const record = await auth.kv.take<CodeRecord>(CODES, key);
  if (!record) {
    const spent = await auth.kv.get<{ familyId: string }>(SPENT_CODES, key);
    if (spent) {
      await refresh.revokeFamily(spent.familyId);
      throw new OAuthError('invalid_grant', 'The authorization code was already used: every token issued for it is now revoked');
    }
    throw new OAuthError('invalid_grant', 'The authorization code is unknown, expired or already used');
  }
  // Noted before anything is issued, so that a replay racing this exchange still finds the family.
  const familyId = randomUUID();
  // Kept as long as the code could have lived: later, a replay is an expired code like any other.
  await auth.kv.put(SPENT_CODES, key, { familyId }, { expiresAt: auth.now() + CODE_LIFETIME_MS });
  if (record.grant.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'The authorization code was issued to another client');
  if (record.redirectUri !== form.redirect_uri) throw new OAuthError('invalid_grant', 'redirect_uri differs from the one of the authorization request');
  if (!verifyPkce(form.code_verifier, record.codeChallenge)) {
    throw new OAuthError('invalid_grant', 'code_verifier is missing or does not match the code_challenge (S256)');
  }
  const response = await issueUserTokens(record.grant, auth, refresh, familyId);
  if (await refresh.isFamilyRevoked(familyId)) {
    // A replay came in while these tokens were being issued: they go with the rest.
    await refresh.revokeFamily(familyId);
    throw new OAuthError('invalid_grant', 'The authorization code was already used: every token issued for it is now revoked');
  }
  return response;
}
