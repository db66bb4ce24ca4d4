import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { ERROR_CODE_SYSTEM, ValidationError } from '../../errors.js';
import { checkElements } from './element-rules.js';
import { checkProfiles, type ProfileRegistry } from './profiles.js';
import { checkStructure, type StructureIssue } from './structure.js';

export { validateBundleReferences } from './bundle-references.js';
export { createProfileRegistry, type ProfileRegistry } from './profiles.js';
export { skippedInvariants } from './invariants.js';
export { parseRequiredProfiles } from './required-profiles.js';

export interface ValidateOptions {
  /** 'delete' checks nothing of the content (a delete carries none). */
  mode?: 'create' | 'update' | 'delete';
  /** Profiles to check on top of those the resource names in meta.profile. */
  profiles?: string[];
}

export interface ValidationResult {
  issues: OperationOutcomeIssue[];
  /** True when some error means the body is not FHIR JSON at all (HTTP 400) rather than a broken rule (HTTP 422). */
  malformed: boolean;
}

export interface Validator {
  validateResource(resource: unknown, options?: ValidateOptions): OperationOutcomeIssue[];
  validateResourceDetailed(resource: unknown, options?: ValidateOptions): ValidationResult;
  assertValid(resource: unknown, options?: ValidateOptions): OperationOutcomeIssue[];
}

export interface ValidatorOptions {
  /** Profiles every resource of a type must conform to: { DocumentReference: ['https://carnet.dev/fhir/StructureDefinition/carnet-document'] }. */
  requiredProfiles?: Record<string, string[]>;
  /** Profiles known besides fhir-profiles/ and the R4 vital-signs profiles (tests, extensions). */
  registry?: ProfileRegistry;
}

/** Builds a validator. Definitions load lazily, per resource type, on first use. */
export function createValidator(options: ValidatorOptions = {}): Validator {
  const required = options.requiredProfiles ?? {};
  const detailed = (resource: unknown, opts: ValidateOptions = {}): ValidationResult => {
    if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
      return { malformed: true, issues: [{ severity: 'error', code: 'structure', diagnostics: 'A resource must be a JSON object' }] };
    }
    const res = resource as Record<string, unknown>;
    const base = typeof res.resourceType === 'string' ? res.resourceType : 'Resource';
    if (opts.mode === 'delete') return { malformed: false, issues: [] };
    const issues: StructureIssue[] = checkStructure(res, base);
    if (issues.some((i) => i.malformed && i.expression?.[0] === base)) return finish(issues);
    issues.push(...checkElements(res, base));
    const profiles = [...(opts.profiles ?? []), ...(required[base] ?? [])];
    issues.push(...checkProfiles(res, base, profiles, options.registry));
    return finish(issues);
  };
  return {
    validateResourceDetailed: detailed,
    validateResource: (resource, opts) => detailed(resource, opts).issues,
    assertValid(resource, opts) {
      const { issues, malformed } = detailed(resource, opts);
      if (issues.some(isError)) throw new ValidationError(issues, malformed ? 400 : 422);
      return issues;
    },
  };
}

/**
 * Throws ValidationError when `resource` itself, not the resources nested in
 * it, is not FHIR JSON: for a container (a transaction Bundle) whose resources
 * are validated one by one as they are written.
 */
export function assertStructure(resource: Record<string, unknown>): void {
  const base = typeof resource.resourceType === 'string' ? resource.resourceType : 'Resource';
  const { issues, malformed } = finish(checkStructure(resource, base));
  if (issues.some(isError)) throw new ValidationError(issues, malformed ? 400 : 422);
}

function finish(issues: StructureIssue[]): ValidationResult {
  const malformed = issues.some((i) => i.malformed && isError(i));
  // The schema's enumerations and the required bindings may both catch a bad code: say it once.
  const seen = new Set<string>();
  const unique = issues.filter((i) => {
    const key = `${i.code}|${i.expression?.[0] ?? ''}`;
    if (i.code !== 'code-invalid') return true;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  // Every issue carries its error code (README "Error codes"), also where no ValidationError is
  // thrown: $validate's answer, and the warnings of a write that succeeds.
  const code = malformed ? 'FHIR_ERR_VALIDATION_STRUCTURE' : 'FHIR_ERR_VALIDATION_RULE';
  return { malformed, issues: unique.map(({ malformed: _m, ...issue }) => ({ ...issue, details: issue.details ?? { coding: [{ system: ERROR_CODE_SYSTEM, code }] } })) };
}

function isError(issue: OperationOutcomeIssue): boolean {
  return issue.severity === 'error' || issue.severity === 'fatal';
}

let defaultValidator: Validator | undefined;
function shared(): Validator {
  return (defaultValidator ??= createValidator());
}

/** Every problem found in `resource`, errors and warnings, each with a FHIRPath location. */
export function validateResource(resource: unknown, options?: ValidateOptions): OperationOutcomeIssue[] {
  return shared().validateResource(resource, options);
}

/** Like validateResource, and tells a malformed body (400) from a broken rule (422). */
export function validateResourceDetailed(resource: unknown, options?: ValidateOptions): ValidationResult {
  return shared().validateResourceDetailed(resource, options);
}

/** Throws ValidationError (400 malformed, 422 rule broken) on any error; returns the warnings otherwise. */
export function assertValid(resource: unknown, options?: ValidateOptions): OperationOutcomeIssue[] {
  return shared().assertValid(resource, options);
}

/**
 * Loads the definitions and the FHIRPath engine (about 0.3 s) ahead of the first
 * write; call it after the server listens so that start-up stays fast.
 */
export function warmUpValidation(types: string[] = ['Observation', 'DocumentReference', 'Patient', 'Bundle']): void {
  for (const resourceType of types) validateResource({ resourceType, meta: { profile: [] } });
  validateResource({ resourceType: 'Observation', status: 'final', code: { text: 'warm-up' }, valueQuantity: { value: 1, code: 'a', system: 'http://unitsofmeasure.org' } });
}
