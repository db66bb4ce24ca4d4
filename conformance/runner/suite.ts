import type { TokenSource } from '../auth/token-source.js';
import type { CheckContext } from './check-context.js';
import { CheckFailure, CheckSkipped } from './check-errors.js';
import type { GivenCredential } from './credential-refusal.js';
import type { Requirement, Severity, SuiteId, Target } from './types.js';

export interface Check<S> {
  /** Stable id, `<suite>.<area>.<what>`, used in reports and JUnit. */
  id: string;
  title: string;
  requirement: Requirement;
  /** Defaults to `error` (a SHALL); `warning` for SHOULD. */
  severity?: Severity;
  /**
   * What of its requirement this check never verifies, and why: listed with
   * the check's result (a pass is no verdict on these). A check adds what it
   * could not verify in this run with `ctx.notChecked`.
   */
  notChecked?: string[];
  run(ctx: CheckContext, state: S): Promise<void>;
}

export interface Suite<S = unknown> {
  id: SuiteId;
  title: string;
  spec: string;
  /** The scope the suite's token asks for. */
  scope(target: Target): string;
  /** Per-run shared fixtures, built lazily by the checks that need them. */
  createState(): S;
  /**
   * The tokens given to the run that this suite's checks send (the `space`
   * suite's actors): each is tried before any check, and a 401 to one during
   * the run makes the check errored, naming it.
   */
  credentials?(tokens: TokenSource): GivenCredential[];
  checks: Check<S>[];
}

/** Erases the state type so suites of different states fit in one list. */
export function defineSuite<S>(suite: Suite<S>): Suite<unknown> {
  return suite as unknown as Suite<unknown>;
}

/**
 * A fixture built once per run by whichever check needs it first. If building
 * it fails, every later check needing it fails with the same cause (or errors,
 * when the cause left no verdict: a deadline, a network error); if it cannot be
 * built on this server (a {@link CheckSkipped}: a feature not declared, no
 * credentials), every check needing it is skipped with that reason.
 */
export function fixture<T>(build: (ctx: CheckContext) => Promise<T>): (ctx: CheckContext) => Promise<T> {
  let pending: Promise<T> | undefined;
  return (ctx) => {
    pending ??= build(ctx).catch((err: unknown) => {
      if (err instanceof CheckSkipped) throw err;
      const message = `fixture could not be prepared (see the check that first needed it): ${(err as Error).message}`;
      if (err instanceof CheckFailure) throw new CheckFailure(message);
      throw new Error(message, { cause: err });
    });
    return pending;
  };
}
