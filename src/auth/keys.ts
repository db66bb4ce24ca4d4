import { exportJWK, generateKeyPair, importJWK } from 'jose';
import type { CryptoKey, JSONWebKeySet, JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import type { KeyValueStore } from '../store/engine.js';

/** The algorithm of the server's own signatures (access tokens, id_tokens). */
export const SERVER_SIGNING_ALG = 'RS256';
const NS = 'keys';

/** A server signing key as kept in the kv store: immutable once written. */
interface StoredKey {
  kid: string;
  alg: typeof SERVER_SIGNING_ALG;
  /** Epoch ms; the newest key signs. */
  createdAt: number;
  privateJwk: JWK;
  publicJwk: JWK;
}

export interface SigningKey {
  kid: string;
  alg: typeof SERVER_SIGNING_ALG;
  key: CryptoKey;
}

/**
 * The server's signing keys, shared by every replica through the engine's kv
 * store (namespace `keys`). Several keys may exist: the newest signs, all are
 * published and accepted, so a key can be rotated in (rotate()) while tokens
 * signed by the previous one stay valid until they expire.
 */
export class ServerKeys {
  private signing: SigningKey | undefined;
  private readonly publicKeys = new Map<string, CryptoKey>();
  private jwks: JSONWebKeySet = { keys: [] };
  private loadedAt = 0;
  private initializing: Promise<void> | undefined;

  constructor(
    private readonly kv: KeyValueStore,
    /** How long the in-memory copy is trusted before kv is read again (new keys from other replicas). */
    private readonly refreshMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Loads the keys, creating the first one when the store holds none. Safe to call repeatedly. */
  init(): Promise<void> {
    this.initializing ??= (async () => {
      await this.reload();
      if (!this.signing) await this.rotate();
    })();
    // A failed attempt (store not open yet) must not stick.
    this.initializing.catch(() => { this.initializing = undefined; });
    return this.initializing;
  }

  /** Adds a new key, which signs from now on (here at once; on other replicas after their refresh). */
  async rotate(): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeyPair(SERVER_SIGNING_ALG, { extractable: true, modulusLength: 2048 });
    const kid = randomUUID();
    const stored: StoredKey = {
      kid,
      alg: SERVER_SIGNING_ALG,
      createdAt: this.now(),
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg: SERVER_SIGNING_ALG },
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: SERVER_SIGNING_ALG, use: 'sig' },
    };
    await this.kv.putIfAbsent(NS, kid, stored);
    await this.reload();
    return this.signing!;
  }

  async signingKey(): Promise<SigningKey> {
    await this.init();
    if (this.isStale()) await this.reload();
    return this.signing!;
  }

  /** The public key for `kid`; an unknown kid is looked up in kv (a key another replica just created). */
  async publicKey(kid: string): Promise<CryptoKey | undefined> {
    await this.init();
    if (this.isStale()) await this.reload();
    const known = this.publicKeys.get(kid);
    if (known) return known;
    if (kid.length > 100) return undefined;
    const stored = await this.kv.get<StoredKey>(NS, kid);
    if (!stored) return undefined;
    await this.reload();
    return this.publicKeys.get(kid);
  }

  /** The public JWKS, every key included. */
  async publicJwks(): Promise<JSONWebKeySet> {
    await this.init();
    if (this.isStale()) await this.reload();
    return this.jwks;
  }

  private isStale(): boolean {
    return this.now() - this.loadedAt > this.refreshMs;
  }

  private async reload(): Promise<void> {
    const stored = (await this.kv.list<StoredKey>(NS)).map((e) => e.value)
      .sort((a, b) => b.createdAt - a.createdAt || (a.kid < b.kid ? -1 : 1));
    for (const s of stored) {
      if (!this.publicKeys.has(s.kid)) this.publicKeys.set(s.kid, (await importJWK(s.publicJwk, s.alg)) as CryptoKey);
    }
    const newest = stored[0];
    if (newest && this.signing?.kid !== newest.kid) {
      this.signing = { kid: newest.kid, alg: newest.alg, key: (await importJWK(newest.privateJwk, newest.alg)) as CryptoKey };
    }
    this.jwks = { keys: stored.map((s) => s.publicJwk) };
    this.loadedAt = this.now();
  }
}
