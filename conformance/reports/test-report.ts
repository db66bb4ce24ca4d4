import type { TestReport, TestReportSetupActionAssert } from '@medplum/fhirtypes';
import type { CheckResult, RunResult, SuiteResult } from '../runner/types.js';
import { tally } from './tally.js';

const ASSERT_RESULT: Record<CheckResult['outcome'], TestReportSetupActionAssert['result']> = {
  passed: 'pass',
  failed: 'fail',
  skipped: 'skip',
};

/** One FHIR R4 TestReport per suite; each check is a test with one assert. */
export function toTestReport(run: RunResult, suite: SuiteResult): TestReport {
  const t = tally(suite.checks);
  return {
    resourceType: 'TestReport',
    id: `carnet-conformance-${run.runId}-${suite.id}`,
    identifier: { system: 'urn:ietf:rfc:3986', value: `urn:carnet-conformance:${run.runId}:${suite.id}` },
    name: `carnet-conformance ${suite.id} suite against ${run.base}`,
    status: 'completed',
    testScript: { display: `${kitName(run)} — ${suite.title} (${suite.spec})` },
    // pending: nothing was judged (every check skipped).
    result: t.failed > 0 ? 'fail' : t.passed > 0 ? 'pass' : 'pending',
    score: t.passed + t.failed > 0 ? Math.round((t.passed / (t.passed + t.failed)) * 10000) / 100 : undefined,
    tester: 'carnet-conformance',
    issued: suite.startedAt,
    participant: [
      { type: 'test-engine', uri: 'urn:carnet-conformance', display: kitName(run) },
      { type: 'server', uri: run.base },
    ],
    test: suite.checks.map((c) => ({
      name: c.id,
      description: `${c.title} — ${c.requirement.section}: ${c.requirement.text}`,
      action: [
        {
          assert: {
            result: ASSERT_RESULT[c.outcome],
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
