import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { KeyValueStore } from '../../store/engine.js';
import { OAuthError } from '../oauth-error.js';
import type { Grant } from './grant.js';

/**
 * Opaque refresh tokens, rotated on every use (OAuth 2.0 Security BCP §4.14).
 * Each belongs to a family (one sign-in); a token presented twice means it
 * leaked, so the whole family is revoked. Only SHA-256 digests are stored.
 */
export interface RefreshRecord {
  grant: Grant;
  familyId: string;
  /** Epoch ms. */
  expiresAt: number;
  issuedAt: number;
}

const TOKENS = 'refresh-tokens';
const USED = 'refresh-used';
const REVOKED_FAMILIES = 'refresh-families-revoked';
export const OFFLINE_LIFETIME_MS = 30 * 24 * 3600_000;
export const ONLINE_LIFETIME_MS = 12 * 3600_000;

const digest = (token: string) => createHash('sha256').update(token).digest('base64url');

/** Per family: the access tokens issued with its refresh tokens (key: jti), until they expire. */
const FAMILY_ACCESS = 'refresh-family-access:';

export class RefreshTokens {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly now: () => number,
    /** Revokes an access token (AccessTokens.revoke): a revoked family takes its access tokens with it. */
    private readonly revokeAccessToken?: (jti: string, expiresAtMs: number) => Promise<void>,
  ) {}

  /** Notes an access token issued in `familyId`, so that revoking the family revokes it too. */
  async recordAccessToken(familyId: string, jti: string, expiresAtMs: number): Promise<void> {
    await this.kv.put(FAMILY_ACCESS + familyId, jti, { expiresAt: expiresAtMs }, { expiresAt: expiresAtMs });
  }

  async issue(grant: Grant, lifetimeMs: number, familyId: string = randomUUID()): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const record: RefreshRecord = { grant, familyId, issuedAt: this.now(), expiresAt: this.now() + lifetimeMs };
    await this.kv.put(TOKENS, digest(token), record, { expiresAt: record.expiresAt });
    return token;
  }

  /** The live record (family not revoked), or undefined. */
  async lookup(token: string): Promise<RefreshRecord | undefined> {
    const record = await this.kv.get<RefreshRecord>(TOKENS, digest(token));
    if (!record || (await this.isFamilyRevoked(record.familyId))) return undefined;
    return record;
  }

  /**
   * Consumes `token` for `clientId`. A token seen before revokes its family and
   * fails; so does a token of another client (left untouched) or an unknown one.
   */
  async consume(token: string, clientId: string): Promise<RefreshRecord> {
    const key = digest(token);
    const record = await this.kv.get<RefreshRecord>(TOKENS, key);
    if (!record) {
      const used = await this.kv.get<{ familyId: string; clientId: string }>(USED, key);
      if (used) {
        await this.revokeFamily(used.familyId);
        throw new OAuthError('invalid_grant', 'refresh_token was already used: every token of this sign-in is now revoked');
      }
      throw new OAuthError('invalid_grant', 'refresh_token is unknown, expired or revoked');
    }
    if (record.grant.clientId !== clientId) throw new OAuthError('invalid_grant', 'refresh_token was issued to another client');
    // take() is atomic: of two concurrent uses, one wins and the other is a reuse.
    const taken = await this.kv.take<RefreshRecord>(TOKENS, key);
    if (!taken) {
      await this.revokeFamily(record.familyId);
      throw new OAuthError('invalid_grant', 'refresh_token was already used: every token of this sign-in is now revoked');
    }
    await this.kv.put(USED, key, { familyId: record.familyId, clientId }, { expiresAt: record.expiresAt });
    if (await this.isFamilyRevoked(record.familyId)) throw new OAuthError('invalid_grant', 'refresh_token was revoked');
    return taken;
  }

  async revokeFamily(familyId: string): Promise<void> {
    await this.kv.put(REVOKED_FAMILIES, familyId, { revokedAt: this.now() }, { expiresAt: this.now() + OFFLINE_LIFETIME_MS });
    // A leaked refresh token may already have been exchanged: its access tokens stop now too.
    for (const { key, value } of await this.kv.list<{ expiresAt: number }>(FAMILY_ACCESS + familyId)) {
      await this.revokeAccessToken?.(key, value.expiresAt);
    }
  }

  async isFamilyRevoked(familyId: string): Promise<boolean> {
    return (await this.kv.get(REVOKED_FAMILIES, familyId)) !== undefined;
  }
}
