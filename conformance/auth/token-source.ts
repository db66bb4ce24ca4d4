import type { JWK } from 'jose';
import { requestBackendToken } from './backend-services.js';
import type { SpaceActors } from './space-actors.js';

/** Where a run gets its access tokens: none, one given on the command line, or Backend Services. */
export type AuthOptions = (
  | { kind: 'none' }
  | { kind: 'static'; token: string }
  | {
      kind: 'backend';
      clientId: string;
      privateJwk: JWK;
      /** Wins over discovery. */
      tokenEndpoint?: string;
      /** Used only when discovery finds none (e.g. the `tokenUrl` of a key file). */
      fallbackTokenEndpoint?: string;
    }
) & { spaceActors?: SpaceActors };

export interface TokenSource {
  readonly kind: AuthOptions['kind'];
  /** A token for that scope, cached for the run; undefined when the run has no credentials. */
  token(scope: string): Promise<string | undefined>;
  /** Backend credentials, for checks that talk to the token endpoint themselves. */
  readonly backend?: { clientId: string; privateJwk: JWK; tokenEndpoint: string };
  /** The health-space actors given to the run (`--space-*`), for the `space` suite. */
  readonly spaceActors?: SpaceActors;
}

export function createTokenSource(auth: AuthOptions, discoveredTokenEndpoint: string | undefined): TokenSource {
  const spaceActors = auth.spaceActors;
  if (auth.kind === 'none') return { kind: 'none', token: async () => undefined, spaceActors };
  if (auth.kind === 'static') return { kind: 'static', token: async () => auth.token, spaceActors };
  const tokenEndpoint = auth.tokenEndpoint ?? discoveredTokenEndpoint ?? auth.fallbackTokenEndpoint;
  const cache = new Map<string, { pending: Promise<string>; expiresAt: number }>();
  return {
    kind: 'backend',
    spaceActors,
    backend: tokenEndpoint ? { clientId: auth.clientId, privateJwk: auth.privateJwk, tokenEndpoint } : undefined,
    token(scope) {
      if (!tokenEndpoint) {
        return Promise.reject(new Error('no token endpoint: neither .well-known/smart-configuration nor the CapabilityStatement names one'));
      }
      const cached = cache.get(scope);
      if (cached && cached.expiresAt > Date.now()) return cached.pending;
      const entry = { pending: Promise.resolve(''), expiresAt: Number.POSITIVE_INFINITY };
      entry.pending = requestBackendToken({ tokenEndpoint, clientId: auth.clientId, jwk: auth.privateJwk, scope }).then((t) => {
        // Renew a little before expiry: a long run outlives a short-lived token.
        if (typeof t.expires_in === 'number') entry.expiresAt = Date.now() + Math.max(0, t.expires_in - 30) * 1000;
        return t.access_token;
      });
      // A failed request is not cached, so a later check may try again.
      entry.pending.catch(() => cache.delete(scope));
      cache.set(scope, entry);
      return entry.pending;
    },
  };
}
