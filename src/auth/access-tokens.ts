import { SignJWT, errors as joseErrors, jwtVerify, decodeProtectedHeader } from 'jose';
import type { JWTPayload } from 'jose';
import { randomUUID } from 'node:crypto';
import { UnauthorizedError } from '../errors.js';
import type { Config } from '../config.js';
import type { KeyValueStore } from '../store/engine.js';
import type { ServerKeys } from './keys.js';
import { SERVER_SIGNING_ALG } from './keys.js';
import type { Principal } from './principal.js';
import { PRINCIPAL_KINDS } from './principal.js';
import { checkScopeRestrictions } from './scope-restrictions.js';
import { grantedResourceScopes, InvalidScopeError } from './scopes.js';
import type { ResourceScope } from './scopes.js';

const REVOKED = 'revoked-access-tokens';
const VERIFIED_CACHE_SIZE = 10_000;
/** RFC 6750 §2.1 b64token: checked only for tokens not verified before (a verified one is well formed). */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** Characters of a token's end (its signature, random for every token) that key the cache. */
const CACHE_KEY_LENGTH = 32;

/** JWT `typ` of our access tokens (RFC 9068), so an id_token can never pass as one. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

export interface AccessTokenClaims extends JWTPayload {
  client_id: string;
  scope: string;
  kind: Principal['kind'];
  patient?: string;
  fhirUser?: string;
  /** When the person's authorization was given, epoch milliseconds (Principal.grantedAt); user tokens only. */
  granted_at?: number;
}

export interface IssueAccessTokenInput {
  clientId: string;
  subject: string;
  kind: Principal['kind'];
  scope: string;
  patient?: string;
  fhirUser?: string;
  /** When the person authorised the app (epoch ms); absent for backend tokens, whose authorization is their issue. */
  grantedAt?: number;
}

/**
 * Whether the server still honours a verified token beyond its signature,
 * expiry and revocation (the client was not withdrawn from the catalogue
 * since the authorization, ClientRegistry.honours).
 */
export type TokenHonoured = (principal: Readonly<Principal>) => Promise<boolean>;

export interface IssuedAccessToken {
  token: string;
  jti: string;
  expiresIn: number;
  /** Epoch seconds. */
  exp: number;
}

/** Signs and verifies the server's access tokens (JWTs signed with the newest server key). */
export class AccessTokens {
  /**
   * Tokens that passed verification, so a client's repeated calls skip the RSA
   * check (about 150 µs each). Keyed by the tail of the signature: hashing a
   * whole token (~750 characters, a new string on every request) costs more
   * than the rest of the lookup; the whole text is then compared. Entries are
   * dropped at expiry; revocation is still checked on every use.
   */
  private readonly verified = new Map<string, { token: string; principal: Principal }>();

  constructor(
    private readonly config: Pick<Config, 'publicUrl' | 'fhirBase' | 'accessTokenSeconds'>,
    private readonly keys: ServerKeys,
    private readonly now: () => number = Date.now,
    /** Where revoked token ids are kept (namespace `revoked-access-tokens`); none: no revocation. */
    private readonly kv?: KeyValueStore,
    /** Checked on every verification, cached tokens included; none: every verified token is honoured. */
    private readonly honoured?: TokenHonoured,
  ) {}

  /** Refuses the token from now on, on every replica (until it would have expired anyway). */
  async revoke(jti: string, expiresAtMs: number): Promise<void> {
    await this.kv?.put(REVOKED, jti, { revokedAt: this.now() }, { expiresAt: expiresAtMs });
  }

  async isRevoked(jti: string): Promise<boolean> {
    return (await this.kv?.get(REVOKED, jti)) !== undefined;
  }

  async issue(input: IssueAccessTokenInput): Promise<IssuedAccessToken> {
    const signing = await this.keys.signingKey();
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + this.config.accessTokenSeconds;
    const jti = randomUUID();
    const claims: AccessTokenClaims = { client_id: input.clientId, scope: input.scope, kind: input.kind };
    if (input.patient) claims.patient = input.patient;
    if (input.fhirUser) claims.fhirUser = input.fhirUser;
    if (input.grantedAt !== undefined) claims.granted_at = input.grantedAt;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: SERVER_SIGNING_ALG, kid: signing.kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(this.config.publicUrl)
      .setAudience(this.config.fhirBase)
      .setSubject(input.subject)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(signing.key);
    return { token, jti, expiresIn: this.config.accessTokenSeconds, exp };
  }

  /**
   * The caller of a token verified before, when everything `verify` checks is
   * known without waiting: unexpired, and not revoked according to a store
   * that answers at once (KeyValueStore.hasNow). Undefined in every other case,
   * a refusal included: `verify` then decides, and says why. It does not ask
   * `honoured` (which may need the store): callers use it for file clients
   * only, which a catalogue withdrawal never concerns (plugins/auth.ts).
   */
  knownPrincipal(token: string): Readonly<Principal> | undefined {
    const principal = this.verifiedBefore(token);
    if (!principal || (this.kv && (!this.kv.hasNow || this.kv.hasNow(REVOKED, principal.tokenId)))) return undefined;
    return principal;
  }

  /** The caller of this very token if it was verified before and has not expired (an expired one is forgotten). */
  private verifiedBefore(token: string): Readonly<Principal> | undefined {
    const key = token.slice(-CACHE_KEY_LENGTH);
    const cached = this.verified.get(key);
    if (cached?.token !== token) return undefined;
    if (cached.principal.expiresAt > this.now()) return cached.principal;
    this.verified.delete(key);
    return undefined;
  }

  /**
   * Verifies a token and returns the caller. Every failure is an UnauthorizedError
   * with our own text; the jose error is kept as the cause for the logs.
   */
  async verify(token: string): Promise<Readonly<Principal>> {
    const known = this.verifiedBefore(token);
    if (known) {
      if (await this.isRevoked(known.tokenId)) throw new UnauthorizedError('The access token was revoked');
      return this.checkHonoured(known);
    }
    if (!B64TOKEN.test(token)) throw new UnauthorizedError('The bearer token has characters a token cannot have (RFC 6750)', 'invalid_request');
    const principal = Object.freeze(await this.verifySignedToken(token));
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token.slice(-CACHE_KEY_LENGTH), { token, principal });
    return this.checkHonoured(principal);
  }

  private async checkHonoured(principal: Readonly<Principal>): Promise<Readonly<Principal>> {
    if (this.honoured && !(await this.honoured(principal))) {
      throw new UnauthorizedError('The app was withdrawn from the catalogue after this token was issued: a new authorization is needed');
    }
    return principal;
  }

  private async verifySignedToken(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      const { kid } = decodeProtectedHeader(token);
      if (typeof kid !== 'string') throw new UnauthorizedError('The access token names no signing key');
      const key = await this.keys.publicKey(kid);
      if (!key) throw new UnauthorizedError('The access token was not signed by this server');
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [SERVER_SIGNING_ALG],
        issuer: this.config.publicUrl,
        audience: this.config.fhirBase,
        typ: ACCESS_TOKEN_TYP,
        requiredClaims: ['exp', 'iat', 'jti', 'sub'],
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      if (err instanceof UnauthorizedError) throw err;
      const failure = new UnauthorizedError(describeJoseFailure(err));
      failure.cause = err;
      throw failure;
    }
    const claims = payload as AccessTokenClaims;
    if (typeof claims.client_id !== 'string' || typeof claims.scope !== 'string' || !PRINCIPAL_KINDS.has(claims.kind)) {
      throw new UnauthorizedError('The access token lacks required claims');
    }
    const principal: Principal = {
      kind: claims.kind,
      clientId: claims.client_id,
      subject: claims.sub!,
      scopes: grantedResourceScopes(claims.scope),
      scope: claims.scope,
      tokenId: claims.jti!,
      expiresAt: claims.exp! * 1000,
    };
    if (await this.isRevoked(principal.tokenId)) throw new UnauthorizedError('The access token was revoked');
    // A restriction the policy cannot enforce is no longer granted; a token issued with one earlier is refused, not a 500 on each request.
    if (!isEnforceable(principal.scopes)) throw new UnauthorizedError('The access token holds a scope restriction this server cannot enforce');
    if (typeof claims.patient === 'string') principal.patient = claims.patient;
    if (typeof claims.fhirUser === 'string') principal.fhirUser = claims.fhirUser;
    // Without granted_at (a backend token, or a user token of an earlier release) the token counts as
    // authorised at the end of the second it was issued in: after the Consent its approval wrote.
    principal.grantedAt = typeof claims.granted_at === 'number' && Number.isFinite(claims.granted_at) ? claims.granted_at : claims.iat! * 1000 + 999;
    return principal;
  }
}

/** Per parsed scope list (shared by every token with the same scope string): whether each restriction can be enforced. */
const enforceable = new WeakMap<ResourceScope[], boolean>();
function isEnforceable(scopes: ResourceScope[]): boolean {
  let answer = enforceable.get(scopes);
  if (answer === undefined) {
    try {
      checkScopeRestrictions(scopes);
      answer = true;
    } catch (err) {
      if (!(err instanceof InvalidScopeError)) throw err;
      answer = false;
    }
    enforceable.set(scopes, answer);
  }
  return answer;
}

function describeJoseFailure(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'The access token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `The access token's "${err.claim}" claim is not acceptable`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'The access token is signed with an algorithm this server does not accept';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'The access token signature is invalid';
  return 'The access token is malformed or invalid';
}
