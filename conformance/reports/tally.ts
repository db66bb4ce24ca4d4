import type { CheckResult, RunResult, Severity } from '../runner/types.js';

export interface Tally {
  passed: number;
  failed: number;
  /** Checks that could not reach a verdict (deadline, network error, kit exception). */
  errored: number;
  skipped: number;
  total: number;
}

export function tally(checks: readonly CheckResult[]): Tally {
  const t: Tally = { passed: 0, failed: 0, errored: 0, skipped: 0, total: checks.length };
  for (const c of checks) t[c.outcome] += 1;
  return t;
}

export interface RequirementTally extends Tally {
  id: string;
  suite: string;
  section: string;
  url: string;
}

/** One row per requirement, in the order the checks ran. */
export function tallyByRequirement(run: RunResult): RequirementTally[] {
  const rows = new Map<string, RequirementTally>();
  for (const suite of run.suites) {
    for (const c of suite.checks) {
      let row = rows.get(c.requirement.id);
      if (!row) {
        row = { id: c.requirement.id, suite: suite.id, section: c.requirement.section, url: c.requirement.url, passed: 0, failed: 0, errored: 0, skipped: 0, total: 0 };
        rows.set(c.requirement.id, row);
      }
      row[c.outcome] += 1;
      row.total += 1;
    }
  }
  return [...rows.values()];
}

/** The severities that fail a run unless the caller chooses otherwise (`--fail-on`). */
export const DEFAULT_FAIL_ON: readonly Severity[] = ['error'];

/**
 * True for a failed or errored check of a severity the caller chose to fail on:
 * a check left without a verdict has not shown the server conformant.
 */
export function isFailing(check: CheckResult, failOn: readonly Severity[]): boolean {
  return (check.outcome === 'failed' || check.outcome === 'errored') && failOn.includes(check.severity);
}

/** True when some failed or errored check has a severity the caller chose to fail on. */
export function shouldFail(run: RunResult, failOn: readonly Severity[]): boolean {
  return run.suites.some((s) => s.checks.some((c) => isFailing(c, failOn)));
}
