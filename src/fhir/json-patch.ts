import type { Resource } from '@medplum/fhirtypes';
import { applyPatch, type Operation } from 'rfc6902';
import { InvalidOperationError } from 'rfc6902/patch.js';
import { BadRequestError, UnprocessableError } from '../errors.js';
import { assertJsonDepth } from './json-depth.js';

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/**
 * Applies a JSON Patch (RFC 6902) to a copy of `resource`, all or nothing.
 * A malformed patch, or one nesting deeper than MAX_JSON_DEPTH, or whose
 * result does, is 400; a patch that cannot apply (a failed `test`, a missing
 * path) or that changes resourceType or id is 422.
 */
export function applyJsonPatch(resource: Resource, patch: unknown): Resource {
  if (!Array.isArray(patch) || !patch.every(isOperation)) {
    throw new BadRequestError('FHIR_ERR_REST_PATCH_MALFORMED',
      'A JSON Patch body must be an array of operations, each with op (add, remove, replace, move, copy, test) and a JSON Pointer path (and from, for move and copy)');
  }
  // A patch inside a Bundle's Binary never went through the body's bound; and
  // each operation may add its value inside the previous one's, so the result
  // is bounded too, before anything recursive walks it.
  assertJsonDepth(patch, 'The JSON Patch');
  const copy = structuredClone(resource);
  const results = applyPatch(copy, patch as Operation[]);
  const failed = results.findIndex((r) => r !== null);
  if (failed >= 0) {
    const err = results[failed]!;
    if (err instanceof InvalidOperationError) throw new BadRequestError('FHIR_ERR_REST_PATCH_MALFORMED', `JSON Patch operation ${failed} is not valid`);
    throw new UnprocessableError('FHIR_ERR_REST_PATCH_FAILED', `JSON Patch operation ${failed} (${(patch[failed] as Operation).op} ${(patch[failed] as Operation).path}) failed: ${err.name}`);
  }
  assertJsonDepth(copy, 'The patched resource');
  if (copy.resourceType !== resource.resourceType || copy.id !== resource.id) {
    throw new UnprocessableError('FHIR_ERR_REST_PATCH_IDENTITY', 'A patch may not change resourceType or id');
  }
  return copy;
}

/** A JSON Pointer (RFC 6901): empty, or starting with a slash. rfc6902 throws on anything else. */
function isPointer(value: unknown): value is string {
  return typeof value === 'string' && (value === '' || value.startsWith('/'));
}

function isOperation(value: unknown): value is Operation {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const op = value as Record<string, unknown>;
  if (!OPS.has(op.op as string) || !isPointer(op.path)) return false;
  // from is read by move and copy only; elsewhere RFC 6902 ignores it.
  return op.op === 'move' || op.op === 'copy' ? isPointer(op.from) : true;
}
