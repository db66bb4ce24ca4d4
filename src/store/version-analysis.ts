import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { extractIndex } from '../fhir/search/extract.js';
import type { ExtractedIndex } from '../fhir/search/extract.js';
import type { Validator } from '../fhir/validation/validate.js';

export type AnalysisMode = 'create' | 'update';

/** What the validator hook returns: warnings only (errors are thrown as ValidationError). */
export type ValidateHook = (resource: Resource, mode: AnalysisMode) => OperationOutcomeIssue[];

/** The hook of a validator, the same in the main thread and on a write worker. */
export function validateWith(validator: Pick<Validator, 'assertValid'>): ValidateHook {
  return (resource, mode) => validator.assertValid(resource, { mode });
}

/** What the server learns from a version before it stores it: its warnings and its search index. */
export interface VersionAnalysis extends ExtractedIndex {
  warnings: OperationOutcomeIssue[];
  /** idx, srt and comp serialised, when the analysis came from a write worker (see WriteOp.indexJson). */
  indexJson?: string;
}

/**
 * Validates a version (throws ValidationError) and extracts its search index.
 * The most expensive pure step of a write, so that it can run on another
 * thread (write-workers/) as well as here, with the same answer. `fhirBase`:
 * this server's FHIR base, so that an absolute reference to one of its
 * resources (`<fhirBase>/Patient/1`) is indexed as the relative one
 * (`Patient/1`) that searches, includes and compartments look for.
 */
export function analyseVersion(resource: Resource, mode: AnalysisMode, validate: ValidateHook, fhirBase: string | undefined): VersionAnalysis {
  const warnings = validate(resource, mode);
  const { idx, srt, comp } = extractIndex(resource, { baseUrl: fhirBase });
  return { warnings, idx, srt, comp };
}

/**
 * Where analysis of new resources can be sent instead of running in the
 * caller's thread. `undefined` means "not now" (no worker ready): the caller
 * analyses in process.
 */
export interface AnalysisOffload {
  analyse(json: string, mode: AnalysisMode): Promise<VersionAnalysis> | undefined;
}
