import type { OperationOutcomeIssue, StructureDefinition } from '@medplum/fhirtypes';

export interface ProfileRegistry {
  get(url: string): StructureDefinition | undefined;
}

export function checkProfiles(_resource: Record<string, unknown>, _base: string, _profiles: string[], _registry?: ProfileRegistry): OperationOutcomeIssue[] {
  return [];
}
