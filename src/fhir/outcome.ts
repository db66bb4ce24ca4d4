import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/** Builders for OperationOutcome bodies that are not errors (informational answers, warnings). */
export function outcome(
  code: OperationOutcomeIssue['code'],
  diagnostics: string,
  severity: OperationOutcomeIssue['severity'] = 'error',
  expression?: string[],
): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics, ...(expression ? { expression } : {}) }] };
}

export function allOk(diagnostics = 'All OK'): OperationOutcome {
  return outcome('informational', diagnostics, 'information');
}

export function hasErrors(issues: OperationOutcomeIssue[]): boolean {
  return issues.some((i) => i.severity === 'error' || i.severity === 'fatal');
}
