import type { Resource } from '@medplum/fhirtypes';
import { applyPatch, type Operation } from 'rfc6902';
import { InvalidOperationError } from 'rfc6902/patch.js';
import { BadRequestError, UnprocessableError } from '../errors.js';
import { Pointer } from 'rfc6902/pointer.js';
import { assertJsonDepth, MAX_JSON_DEPTH, measureJson } from './json-depth.js';

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/**
 * Applies a JSON Patch (RFC 6902) to a copy of `resource`, all or nothing.
 * A malformed patch, or one nesting deeper than MAX_JSON_DEPTH, is 400; a
 * patch that cannot apply (a failed `test`, a missing path), that changes
 * resourceType or id, or whose result would nest too deep or grow too large,
 * is 422.
 */
export function applyJsonPatch(resource: Resource, patch: unknown): Resource {
  if (!Array.isArray(patch) || !patch.every(isOperation)) {
    throw new BadRequestError('FHIR_ERR_REST_PATCH_MALFORMED',
      'A JSON Patch body must be an array of operations, each with op (add, remove, replace, move, copy, test) and a JSON Pointer path (and from, for move and copy)');
  }
  // A patch inside a Bundle's Binary never went through the request body's bound.
  assertJsonDepth(patch, 'The JSON Patch');
  const operations = patch as Operation[];
  const copy = structuredClone(resource);
  // What copies may add: the resource once more, and then some. Copies of
  // copies would otherwise double the resource at each operation.
  let copyBudget = 2 * (measureJson(resource, Infinity).nodes + measureJson(patch, Infinity).nodes) + 1000;
  for (const [i, operation] of operations.entries()) {
    if (operation.op === 'copy') copyBudget -= checkCopy(copy, operation, i, copyBudget);
    const [failure] = applyPatch(copy, [operation]);
    if (failure) {
      if (failure instanceof InvalidOperationError) throw new BadRequestError('FHIR_ERR_REST_PATCH_MALFORMED', `JSON Patch operation ${i} is not valid`);
      throw new UnprocessableError('FHIR_ERR_REST_PATCH_FAILED', `JSON Patch operation ${i} (${operation.op} ${operation.path}) failed: ${failure.name}`);
    }
  }
  // Adds and moves can also build depth, one shallow step at a time.
  if (measureJson(copy).depth > MAX_JSON_DEPTH) {
    throw new UnprocessableError('FHIR_ERR_REST_PATCH_TOO_LARGE', `The patched resource would nest objects and arrays more than ${MAX_JSON_DEPTH} levels deep`);
  }
  if (copy.resourceType !== resource.resourceType || copy.id !== resource.id) {
    throw new UnprocessableError('FHIR_ERR_REST_PATCH_IDENTITY', 'A patch may not change resourceType or id');
  }
  return copy;
}

/**
 * Refuses a `copy` before it runs when its result would nest too deep or
 * pass the budget: rfc6902 clones the source recursively, and a source built
 * deep by earlier operations would exhaust the stack. Returns the objects and
 * arrays it copies.
 */
function checkCopy(target: Resource, operation: Operation & { from: string }, index: number, budget: number): number {
  const source = Pointer.fromJSON(operation.from).evaluate(target).value;
  // Where it lands: one level per token of the path (the first token is the root's).
  const landing = Pointer.fromJSON(operation.path).tokens.length - 1;
  const shape = measureJson(source, MAX_JSON_DEPTH - landing, budget);
  if (landing + shape.depth > MAX_JSON_DEPTH || shape.nodes > budget) {
    throw new UnprocessableError('FHIR_ERR_REST_PATCH_TOO_LARGE',
      `JSON Patch operation ${index} (copy ${operation.from} to ${operation.path}) would make the resource ${shape.nodes > budget ? 'more than twice as large as the resource and the patch together' : `nest objects and arrays more than ${MAX_JSON_DEPTH} levels deep`}`);
  }
  return shape.nodes;
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
