import type { TestReport, TestReportSetupActionAssert } from '@medplum/fhirtypes';
import type { CheckResult, RunResult, Severity, SuiteResult } from '../runner/types.js';
import { DEFAULT_FAIL_ON, isFailing, tally } from './tally.js';

/**
 * An assert's result (R4 report-action-result-codes). A failed check whose
 * severity does not fail the run (a SHOULD, under the default `--fail-on error`)
 * is a `warning`, like a TestScript assert with `warningOnly`. A check that could
 * not complete is an `error` ("the test encountered an error"), whatever its severity.
 */
function assertResult(c: CheckResult, failOn: readonly Severity[]): TestReportSetupActionAssert['result'] {
  if (c.outcome === 'passed') return 'pass';
  if (c.outcome === 'skipped') return 'skip';
  if (c.outcome === 'errored') return 'error';
  return isFailing(c, failOn) ? 'fail' : 'warning';
}

/**
 * One FHIR R4 TestReport per suite; each check is a test with one assert.
 * `result` follows the exit code's rule: `fail` exactly when an assert is `fail`.
 */
export function toTestReport(run: RunResult, suite: SuiteResult, failOn: readonly Severity[] = DEFAULT_FAIL_ON): TestReport {
  const t = tally(suite.checks);
  // Every check that ran: an errored check did not pass, so it counts against the score as a failure did.
  const ran = t.passed + t.failed + t.errored;
  return {
    resourceType: 'TestReport',
    id: `carnet-conformance-${run.runId}-${suite.id}`,
    identifier: { system: 'urn:ietf:rfc:3986', value: `urn:carnet-conformance:${run.runId}:${suite.id}` },
    name: `carnet-conformance ${suite.id} suite against ${run.base}`,
    status: 'completed',
    testScript: { display: `${kitName(run)} — ${suite.title} (${suite.spec})` },
    // pending: nothing ran (every check skipped).
    result: suite.checks.some((c) => isFailing(c, failOn)) ? 'fail' : ran > 0 ? 'pass' : 'pending',
    // Share of the checks that ran that passed: a warning or an error did not pass, so it lowers the score.
    score: ran > 0 ? Math.round((t.passed / ran) * 10000) / 100 : undefined,
    tester: 'carnet-conformance',
    issued: suite.startedAt,
    participant: [
      { type: 'test-engine', uri: 'urn:carnet-conformance', display: kitName(run) },
      { type: 'server', uri: run.base },
    ],
    test: suite.checks.map((c) => ({
      name: c.id,
      // What the check does not verify belongs to what the test covers: a pass claims no more.
      description: [`${c.title} — ${c.requirement.section}: ${c.requirement.text}`, ...(c.notChecked ?? []).map((n) => `Not checked: ${n}`)].join(' '),
      action: [
        {
          assert: {
            result: assertResult(c, failOn),
            message: [c.message, ...c.notes].filter(Boolean).join(' | ') || undefined,
            detail: c.requirement.url,
          },
        },
      ],
    })),
  };
}

function kitName(run: RunResult): string {
  return `carnet-conformance ${run.kitVersion}`;
}
