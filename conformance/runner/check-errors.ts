import { RequestIncomplete } from './timed-request.js';
import type { Outcome } from './types.js';

/** Thrown by a check to say the server does not meet the requirement. */
export class CheckFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckFailure';
  }
}

/** Thrown by a check to say it cannot judge this server (feature not declared, prerequisite missing). */
export class CheckSkipped extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'CheckSkipped';
  }
}

/**
 * The FHIR API answered 401 to one of the run's credentials during the run: a
 * token given to it (`--token`, a `--space-*` actor's), which the server
 * accepted before the first check, or the token the run got for itself. It
 * expired or was revoked meanwhile: the check could not reach a verdict
 * (errored), which is never a failure of the server.
 */
export class CredentialRefused extends Error {
  override readonly name = 'CredentialRefused';
}

/**
 * A request carrying a token was not sent: its URL is outside the FHIR base
 * (and is not the token endpoint). A token goes to the server under test only,
 * whatever URL a server names; a check that follows such URLs (next links,
 * attachment urls) says what it makes of them before asking.
 */
export class TokenWithheld extends Error {
  override readonly name = 'TokenWithheld';
}

/**
 * What a check's throw means. A failure is a verdict on the server; anything
 * else (a request with no whole answer before the deadline, a network error, a
 * credential refused during the run, an exception in the kit) left the check
 * without a verdict: `errored`, which reports keep apart from failures (JUnit
 * `<error>`, TestReport `error`).
 */
export function outcomeOf(err: unknown): { outcome: Exclude<Outcome, 'passed'>; message: string } {
  if (err instanceof CheckSkipped) return { outcome: 'skipped', message: err.reason };
  if (err instanceof CheckFailure) return { outcome: 'failed', message: err.message };
  // The request's own message names it and what went wrong (a token request's, wrapped, too), and
  // so does a refused credential's (which credential, the request, the server's reason).
  if (causedBy(err, RequestIncomplete) || causedBy(err, CredentialRefused)) return { outcome: 'errored', message: (err as Error).message };
  const text = !(err instanceof Error) ? String(err) : err.name === 'Error' ? err.message : `${err.name}: ${err.message}`;
  return { outcome: 'errored', message: `the check could not complete: ${text}` };
}

function causedBy(err: unknown, type: new (...args: never[]) => Error): boolean {
  for (let e: unknown = err; e instanceof Error; e = (e as Error).cause) if (e instanceof type) return true;
  return false;
}
