import type { JWK } from 'jose';
import { CheckFailure } from '../runner/check-errors.js';
import { RequestIncomplete } from '../runner/timed-request.js';
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
  /**
   * Set when Backend Services credentials were given to an open server (no token
   * endpoint, no OAuth/SMART security declared): requests go without a token, as
   * in a run without credentials, and checks that need one skip with this reason.
   */
  readonly tokenless?: string;
}

/** What discovery learnt about getting tokens from the server. */
export interface TokenDiscovery {
  tokenEndpoint?: string;
  /** The server declares OAuth/SMART security: its data needs a token. */
  requiresTokens: boolean;
}

export const NO_TOKEN_ENDPOINT =
  'the server names no token endpoint (neither .well-known/smart-configuration nor the CapabilityStatement\'s oauth-uris extension; --token-endpoint sets one)';

export function createTokenSource(auth: AuthOptions, discovered: TokenDiscovery, timeoutMs?: number): TokenSource {
  const spaceActors = auth.spaceActors;
  if (auth.kind === 'none') return { kind: 'none', token: async () => undefined, spaceActors };
  if (auth.kind === 'static') return { kind: 'static', token: async () => auth.token, spaceActors };
  const tokenEndpoint = auth.tokenEndpoint ?? discovered.tokenEndpoint ?? auth.fallbackTokenEndpoint;
  if (!tokenEndpoint) {
    // An open server needs no token: the run goes on without one. A server that
    // declares security but hides its token endpoint fails each request that needs a token.
    if (!discovered.requiresTokens) {
      const tokenless = `no access token: ${NO_TOKEN_ENDPOINT}, and it declares no OAuth/SMART security (requests go without a token)`;
      return { kind: 'backend', spaceActors, tokenless, token: async () => undefined };
    }
    // The server's own omission: a verdict on it (failed), not a check left without one.
    const missing = new CheckFailure(`cannot get an access token: the server declares OAuth/SMART security but ${NO_TOKEN_ENDPOINT.replace(/^the server /, '')}`);
    return { kind: 'backend', spaceActors, token: () => Promise.reject(missing) };
  }
  const cache = new Map<string, { pending: Promise<string>; expiresAt: number }>();
  return {
    kind: 'backend',
    spaceActors,
    backend: { clientId: auth.clientId, privateJwk: auth.privateJwk, tokenEndpoint },
    token(scope) {
      const cached = cache.get(scope);
      if (cached && cached.expiresAt > Date.now()) return cached.pending;
      const entry = { pending: Promise.resolve(''), expiresAt: Number.POSITIVE_INFINITY };
      entry.pending = requestBackendToken({ tokenEndpoint, clientId: auth.clientId, jwk: auth.privateJwk, scope, timeoutMs }).then(
        (t) => {
          // Renew a little before expiry: a long run outlives a short-lived token.
          if (typeof t.expires_in === 'number') entry.expiresAt = Date.now() + Math.max(0, t.expires_in - 30) * 1000;
          return t.access_token;
        },
        (err: unknown) => {
          const message = `cannot get an access token (scope ${scope}) from ${tokenEndpoint}: ${(err as Error).message}`;
          // A refusal is the server's answer (failed); no whole answer leaves the check without a verdict (errored).
          if (err instanceof RequestIncomplete) throw new Error(message, { cause: err });
          throw new CheckFailure(message);
        },
      );
      // A failed request is not cached, so a later check may try again.
      entry.pending.catch(() => cache.delete(scope));
      cache.set(scope, entry);
      return entry.pending;
    },
  };
}
