import type { CheckResult, RunResult } from '../../conformance/runner/types.js';

const requirement = {
  id: 'http-read',
  spec: 'FHIR R4 RESTful API',
  section: '3.1.0.2 read',
  url: 'https://hl7.org/fhir/R4/http.html#read',
  text: 'A GET for an unknown resource returns 404 Not Found.',
};

function check(over: Partial<CheckResult>): CheckResult {
  return {
    suite: 'rest', id: 'rest.x', title: 'x', requirement, severity: 'error', outcome: 'passed', notes: [], exchanges: [], durationMs: 5, ...over,
  };
}

/** A finished run with one check of each outcome; the failure carries hostile text. */
export function sampleRun(): RunResult {
  return {
    base: 'http://server.test/fhir',
    runId: 'abcd1234',
    startedAt: '2025-01-01T10:00:00.000Z',
    durationMs: 1234,
    kitVersion: '0.1.0',
    suites: [
      {
        id: 'rest', title: 'RESTful API', spec: 'FHIR R4', startedAt: '2025-01-01T10:00:00.000Z', durationMs: 1000,
        checks: [
          check({ id: 'rest.read.current', title: 'read works', outcome: 'passed' }),
          check({
            id: 'rest.read.unknown', title: 'unknown <id> gives 404', outcome: 'failed',
            message: 'read of an unknown Patient: expected HTTP 404, got 200 & "<script>alert(1)</script>"',
            exchanges: [{
              request: { method: 'GET', url: 'http://server.test/fhir/Patient/nope', headers: { accept: 'application/fhir+json' } },
              response: { status: 200, headers: { 'content-type': 'application/fhir+json' }, body: '{"resourceType":"Patient","id":"<b>nope</b>"}' },
            }],
          }),
          check({ id: 'rest.update.if-match-stale', title: 'stale If-Match', outcome: 'skipped', message: "not declared in the CapabilityStatement: Patient versioning 'versioned-update'" }),
          check({ id: 'rest.prefer.minimal', title: 'minimal', outcome: 'failed', severity: 'warning', message: 'expected no body' }),
        ],
      },
      {
        id: 'space', title: 'Health space rules', spec: 'carnet', startedAt: '2025-01-01T10:00:01.000Z', durationMs: 1,
        checks: [check({ suite: 'space', id: 'space.masked', outcome: 'skipped', message: 'not checked by this version of the kit', requirement: { ...requirement, id: 'space-masked', url: 'urn:carnet:space-rule:masked' } })],
      },
    ],
  };
}
