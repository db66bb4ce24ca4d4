import type { TokenSource } from '../auth/token-source.js';
import { serverRest } from './capabilities.js';
import { CheckSkipped } from './check-errors.js';
import type { HttpClient, HttpResponse } from './http-client.js';
import { requiresTokens } from './target.js';
import type { Target } from './types.js';

/**
 * The credentials given to the run cannot get it a token the server accepts
 * (wrong key, unreachable or malformed token endpoint, a `--token` the server
 * rejects). Every check needing a token would fail for the same cause, so the run
 * stops before any check, like {@link TargetUnavailable}.
 */
export class CredentialsUnusable extends Error {
  override readonly name = 'CredentialsUnusable';
}

export const NO_CREDENTIALS = 'the run has no credentials (--client-id/--private-key or --token)';

/**
 * Checks the run's credentials once, before any check: Backend Services
 * credentials must get a token for each suite's scope (then cached for the run),
 * a `--token` must not be refused with 401. Rejects with {@link CredentialsUnusable}.
 * A run without credentials, or one whose server names no token endpoint, is not
 * checked here: its checks skip or fail saying why.
 */
export async function verifyCredentials(target: Target, tokens: TokenSource, scopes: string[], http: HttpClient): Promise<void> {
  if (tokens.kind === 'backend' && tokens.backend) {
    for (const scope of new Set(scopes)) {
      try {
        await tokens.token(scope);
      } catch (err) {
        throw new CredentialsUnusable((err as Error).message, { cause: err });
      }
    }
  }
  if (tokens.kind === 'static') await verifyStaticToken(target, tokens, http);
}

async function verifyStaticToken(target: Target, tokens: TokenSource, http: HttpClient): Promise<void> {
  const token = await tokens.token('');
  const type = probeType(target);
  // Nothing declared to read: the token cannot be tried without guessing; the checks will tell.
  if (!token || !type) return;
  const path = `${type}?_count=1`;
  let res: HttpResponse;
  try {
    res = await http.get(path, { auth: { token } });
  } catch (err) {
    throw new CredentialsUnusable(`cannot verify --token: ${(err as Error).message}`, { cause: err });
  }
  // 403 is a token the server knows but that may not read this: checks will judge.
  if (res.status === 401) {
    const challenge = res.headers['www-authenticate'];
    throw new CredentialsUnusable(`the server refused --token: GET ${http.base}/${path} answered 401${challenge ? ` (WWW-Authenticate: ${challenge})` : ''}`);
  }
}

/** A resource type the server declares it can search, to try a token on (Patient when declared). */
function probeType(target: Target): string | undefined {
  const resources = serverRest(target.capabilityStatement)?.resource ?? [];
  const searchable = resources.filter((r) => r.type && r.interaction?.some((i) => i.code === 'search-type')).map((r) => r.type);
  return searchable.includes('Patient') ? 'Patient' : searchable[0];
}

/**
 * The token a check's requests carry by default. With no credentials on a server
 * that declares OAuth/SMART security, a request needing a token cannot be judged:
 * the check asking for one is skipped (every suite, every check, in one place).
 */
export function defaultTokenFor(target: Target, tokens: TokenSource, scope: string): () => Promise<string | undefined> {
  if (tokens.kind === 'none' && requiresTokens(target)) {
    const reason = `${NO_CREDENTIALS}, and the server declares OAuth/SMART security: this request needs a token`;
    return () => Promise.reject(new CheckSkipped(reason));
  }
  return () => tokens.token(scope);
}
