import { randomBytes } from 'node:crypto';
import { createTokenSource } from '../auth/token-source.js';
import type { AuthOptions, TokenSource } from '../auth/token-source.js';
import { CheckContext } from './check-context.js';
import type { AppClient } from './check-context.js';
import { outcomeOf } from './check-errors.js';
import type { GivenCredential } from './credential-refusal.js';
import { defaultTokenFor, STATIC_TOKEN, uniqueCredentials, verifyCredentials } from './credentials.js';
import { HttpClient } from './http-client.js';
import type { CredentialNamer } from './http-client.js';
import { redactText } from './redact.js';
import type { Suite } from './suite.js';
import { discoverTarget, requiresTokens } from './target.js';
import type { CheckResult, Exchange, RunResult, SuiteResult, Target } from './types.js';

export const KIT_VERSION = '0.1.0';

// The two ways a run stops before any check, for programmatic callers (`carnet-conformance/runner`).
export { CredentialsUnusable } from './credentials.js';
export { TargetUnavailable } from './target.js';

export interface ProgressListener {
  start(total: number, target: Target): void;
  checkDone(result: CheckResult): void;
  end(): void;
}

export interface RunOptions {
  base: string;
  suites: Suite[];
  auth: AuthOptions;
  /** Makes fixture names unique to the run; random by default. */
  runId?: string;
  progress?: ProgressListener;
  /** The deadline of each whole request, token requests included (default 30 s): a slow server cannot hang the run. */
  timeoutMs?: number;
  appClient?: AppClient;
}

export async function runConformance(options: RunOptions): Promise<RunResult> {
  const base = options.base.replace(/\/+$/, '');
  const runId = options.runId ?? randomBytes(4).toString('hex');
  const startedAt = new Date();
  const discovery = new HttpClient(base, () => {}, async () => undefined, options.timeoutMs);
  // Rejects with TargetUnavailable when the base serves no CapabilityStatement: nothing can be judged.
  const target = await discoverTarget(discovery);
  const tokens = createTokenSource(options.auth, { tokenEndpoint: target.tokenEndpoint, requiresTokens: requiresTokens(target) }, options.timeoutMs);
  const given = uniqueCredentials(options.suites.flatMap((s) => s.credentials?.(tokens) ?? []));
  // Rejects with CredentialsUnusable when the credentials get no accepted token, or the server refuses
  // a token given to the run (an actor's that expired): every check using it would end alike.
  await verifyCredentials(target, tokens, options.suites.map((s) => s.scope(target)), discovery, given);
  const total = options.suites.reduce((n, s) => n + s.checks.length, 0);
  options.progress?.start(total, target);

  const suites: SuiteResult[] = [];
  for (const suite of options.suites) {
    const suiteStart = Date.now();
    const scope = suite.scope(target);
    const state = suite.createState();
    const checks: CheckResult[] = [];
    for (const check of suite.checks) {
      const exchanges: Exchange[] = [];
      const http = new HttpClient(base, (e) => exchanges.push(e), defaultTokenFor(target, tokens, scope), options.timeoutMs, credentialNamer(tokens, scope, given), tokenUrls(target, tokens));
      const ctx = new CheckContext(suite.id, runId, target, http, tokens, scope, options.appClient);
      const t0 = Date.now();
      let outcome: CheckResult['outcome'] = 'passed';
      let message: string | undefined;
      try {
        await check.run(ctx, state);
      } catch (err) {
        ({ outcome, message } = outcomeOf(err));
      }
      const result: CheckResult = {
        suite: suite.id,
        id: check.id,
        title: check.title,
        requirement: check.requirement,
        severity: check.severity ?? 'error',
        outcome,
        // Exchanges are redacted as they are recorded; a message or note may quote a token too.
        message: message === undefined ? undefined : redactText(message),
        notes: ctx.notes.map(redactText),
        // A skipped check verified nothing: what it would not have verified is beside the point.
        ...(outcome === 'skipped' ? {} : notChecked([...(check.notChecked ?? []), ...ctx.unchecked])),
        exchanges,
        durationMs: Date.now() - t0,
      };
      checks.push(result);
      options.progress?.checkDone(result);
    }
    suites.push({
      id: suite.id,
      title: suite.title,
      spec: suite.spec,
      checks,
      startedAt: new Date(suiteStart).toISOString(),
      durationMs: Date.now() - suiteStart,
    });
  }
  options.progress?.end();
  return { base, runId, startedAt: startedAt.toISOString(), durationMs: Date.now() - startedAt.getTime(), suites, kitVersion: KIT_VERSION };
}

function notChecked(parts: string[]): Pick<CheckResult, 'notChecked'> {
  return parts.length > 0 ? { notChecked: parts.map(redactText) } : {};
}

/** The URLs outside the base a token may go to: the token endpoint, as discovered or given. */
function tokenUrls(target: Target, tokens: TokenSource): string[] {
  return [target.tokenEndpoint, tokens.backend?.tokenEndpoint].filter((u): u is string => u !== undefined);
}

/** Names the run's credentials, so that a 401 to one during the run says which (see HttpClient). */
function credentialNamer(tokens: TokenSource, scope: string, given: GivenCredential[]): CredentialNamer {
  const names = new Map(given.map((c) => [c.token, c.name]));
  const own = tokens.kind === 'static' ? STATIC_TOKEN : `the run's access token (scope ${scope})`;
  return (token, isDefault) => (isDefault ? own : names.get(token));
}
