import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { pointerToExpression } from './fhir-path-location.js';
import { readGeneratedJson, requireGenerated } from './generated-files.js';
import { isAlignmentNull } from './primitive-alignment.js';

interface AjvError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}
type CompiledValidator = ((data: unknown) => boolean) & { errors?: AjvError[] | null };

/** An issue, plus whether it means "this is not FHIR JSON at all" (HTTP 400) rather than a broken rule (422). */
export interface StructureIssue extends OperationOutcomeIssue {
  malformed?: boolean;
}

let knownTypes: Set<string> | undefined;
let patterns: Record<string, string> | undefined;
const validators = new Map<string, CompiledValidator>();

export function isKnownResourceType(type: unknown): type is string {
  knownTypes ??= new Set(readGeneratedJson<string[]>('fhir-structure/index.json'));
  return typeof type === 'string' && knownTypes.has(type);
}

function validatorFor(type: string): CompiledValidator {
  let v = validators.get(type);
  if (!v) {
    v = requireGenerated<{ validate: CompiledValidator }>(`fhir-structure/${type}.cjs`).validate;
    validators.set(type, v);
  }
  return v;
}

/**
 * Checks the shape of one resource (not its nested resources) against the R4 JSON
 * schema, precompiled per type: element names, JSON types, primitive formats, codes of
 * the enumerations the schema carries. `base` is the FHIRPath of the resource itself.
 */
export function checkStructure(resource: Record<string, unknown>, base: string): StructureIssue[] {
  const type = resource.resourceType;
  if (!isKnownResourceType(type)) {
    return [{ severity: 'error', code: 'structure', malformed: true, expression: [base],
      diagnostics: typeof type === 'string' ? `Unknown resourceType '${type}'` : 'A resource must have a resourceType' }];
  }
  const validate = validatorFor(type);
  if (validate(resource)) return [];
  return toIssues(validate.errors ?? [], base, resource);
}

function toIssues(errors: AjvError[], base: string, resource: unknown): StructureIssue[] {
  const typeErrorAt = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  const issues: StructureIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    // Minimum cardinality is checked from the StructureDefinitions (cardinality.ts), with better words.
    if (e.keyword === 'required') continue;
    // The schema refuses every null; R4 JSON allows the ones that keep a primitive array aligned with its `_` array.
    if (isAlignmentNull(resource, e.instancePath)) continue;
    if (e.keyword !== 'type' && typeErrorAt.has(e.instancePath)) continue;
    const issue = toIssue(e, base, resource);
    const key = `${issue.expression?.[0]}|${issue.diagnostics}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues;
}

function toIssue(e: AjvError, base: string, resource: unknown): StructureIssue {
  const at = pointerToExpression(base, e.instancePath);
  const value = valueAt(resource, e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String(e.params.additionalProperty);
      return { severity: 'error', code: 'structure', malformed: true, expression: [`${at}.${name}`],
        diagnostics: `Unknown element '${name}' at ${at}` };
    }
    case 'type': {
      const expected = String(e.params.type);
      const what = expected === 'array' ? 'an array' : expected === 'object' ? 'a JSON object' : `a JSON ${expected}`;
      return { severity: 'error', code: 'structure', malformed: true, expression: [at],
        diagnostics: `${at} must be ${what}, not ${describe(value)}` };
    }
    case 'pattern': {
      const fhirType = primitiveTypeOf(e);
      return { severity: 'error', code: 'value', expression: [at],
        diagnostics: `${JSON.stringify(value)} is not a valid ${fhirType} (${at})` };
    }
    case 'enum': {
      // The schema's enumerated codes have no `type`, so a null or a number fails only the enum:
      // make it the 400 (wrong JSON type) any other non-string code is, rather than an unknown code's 422.
      if (typeof value !== 'string') {
        return { severity: 'error', code: 'structure', malformed: true, expression: [at],
          diagnostics: `${at} must be a JSON string, not ${describe(value)}` };
      }
      const allowed = (e.params.allowedValues as unknown[]).map(String);
      return { severity: 'error', code: 'code-invalid', expression: [at],
        diagnostics: `Code ${JSON.stringify(value)} is not allowed at ${at}; expected one of: ${allowed.join(', ')}` };
    }
    case 'const':
      return { severity: 'error', code: 'value', expression: [at],
        diagnostics: `${at} must be ${JSON.stringify(e.params.allowedValue)}` };
    default:
      return { severity: 'error', code: 'structure', expression: [at], diagnostics: `${at} ${e.message ?? 'is invalid'}` };
  }
}

/**
 * The primitive type whose pattern failed, from the schema path (`#/definitions/string/pattern`):
 * several types share a pattern (string and markdown), so the pattern alone cannot name it.
 */
function primitiveTypeOf(e: AjvError): string {
  const named = /^#\/definitions\/([a-z]\w*)\/pattern$/.exec(e.schemaPath)?.[1];
  if (named) return named;
  patterns ??= readGeneratedJson<Record<string, string>>('fhir-structure/patterns.json');
  return patterns[String(e.params.pattern)] ?? 'value';
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return `the ${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(root: unknown, pointer: string): unknown {
  let node = root;
  if (!pointer) return node;
  for (const seg of pointer.slice(1).split('/')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}
