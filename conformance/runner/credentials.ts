import type { TokenSource } from '../auth/token-source.js';
import { serverRest } from './capabilities.js';
import { CheckSkipped } from './check-errors.js';
import { describeRefusal } from './credential-refusal.js';
import type { GivenCredential } from './credential-refusal.js';
import type { HttpClient, HttpResponse } from './http-client.js';
import { requiresTokens } from './target.js';
import type { Target } from './types.js';

/**
 * The credentials given to the run cannot get it a token the server accepts
 * (wrong key, unreachable or malformed token endpoint), or the server refuses a
 * token given to it (`--token`, a `--space-*` actor's, an expired one
 * included). Every check using it would end for that same cause, which is no
 * verdict on the server, so the run stops before any check, like
 * {@link TargetUnavailable}.
 */
export class CredentialsUnusable extends Error {
  override readonly name = 'CredentialsUnusable';
}

export const NO_CREDENTIALS = 'the run has no credentials (--client-id/--private-key or --token)';

/**
 * Checks the run's credentials once, before any check: Backend Services
 * credentials must get a token for each suite's scope (then cached for the run);
 * a `--token` and every token a selected suite was given (the `space` suite's
 * actors) must not be refused with 401. Rejects with {@link CredentialsUnusable},
 * naming every credential refused, one sentence each (one per line).
 * A run without credentials, or one whose server names no token endpoint, is not
 * checked here: its checks skip or fail saying why.
 */
export async function verifyCredentials(target: Target, tokens: TokenSource, scopes: string[], http: HttpClient, given: GivenCredential[] = []): Promise<void> {
  if (tokens.kind === 'backend' && tokens.backend) {
    for (const scope of new Set(scopes)) {
      try {
        await tokens.token(scope);
      } catch (err) {
        throw new CredentialsUnusable((err as Error).message, { cause: err });
      }
    }
  }
  const toTry = tokens.kind === 'static' ? [{ token: (await tokens.token(''))!, name: STATIC_TOKEN }, ...given] : given;
  const problems: string[] = [];
  for (const credential of uniqueCredentials(toTry)) {
    const problem = await tryCredential(target, credential, http);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) throw new CredentialsUnusable(problems.join('\n'));
}

/** How the reports name the token given with `--token`. */
export const STATIC_TOKEN = '--token';

/** One entry per token (the first name given wins): the same token given twice is tried once. */
export function uniqueCredentials(credentials: GivenCredential[]): GivenCredential[] {
  const byToken = new Map<string, GivenCredential>();
  for (const c of credentials) if (c.token && !byToken.has(c.token)) byToken.set(c.token, c);
  return [...byToken.values()];
}

/** Why the server refuses this token (one sentence), or undefined when it does not answer 401. */
async function tryCredential(target: Target, credential: GivenCredential, http: HttpClient): Promise<string | undefined> {
  const type = probeType(target);
  // Nothing declared to read: the token cannot be tried without guessing; the checks will tell.
  if (!type) return undefined;
  const path = `${type}?_count=1`;
  let res: HttpResponse;
  try {
    res = await http.get(path, { auth: { token: credential.token } });
  } catch (err) {
    return `cannot verify ${credential.name}: ${(err as Error).message}`;
  }
  // 403 is a token the server knows but that may not read this: checks will judge.
  if (res.status !== 401) return undefined;
  return describeRefusal(credential.name, credential.token, { method: 'GET', url: res.url, headers: res.headers, json: res.json }, false);
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
