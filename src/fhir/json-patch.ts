import type { Resource } from '@medplum/fhirtypes';
import { applyPatch, type Operation } from 'rfc6902';
import { InvalidOperationError, MissingError, TestError } from 'rfc6902/patch.js';
import { BadRequestError, UnprocessableError } from '../errors.js';
import { Pointer } from 'rfc6902/pointer.js';
import { assertJsonDepth, jsonDepth, jsonWeight, MAX_JSON_DEPTH } from './json-depth.js';
import { assertFiniteNumbers } from './json-refusals.js';

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
  // Nor through the check that no number in it overflowed to Infinity (which would be stored as null).
  assertFiniteNumbers(patch, 'the JSON Patch');
  const operations = patch as Operation[];
  const copy = structuredClone(resource);
  // What copies may add: twice the resource and the patch, by weight (values
  // and characters). Copies of copies would otherwise double it at each step.
  let copyBudget = 2 * (jsonWeight(resource) + jsonWeight(patch)) + 1000;
  for (const [i, operation] of operations.entries()) {
    let failure: Error | null;
    if (operation.op === 'test') {
      // Compared here: rfc6902 compares by computing a diff, recursively, in
      // time and memory that grow with the cube of an array's length.
      const found = Pointer.fromJSON(operation.path).evaluate(copy).value;
      failure = found === undefined ? new MissingError(operation.path) : jsonEqual(found, operation.value) ? null : new TestError(found, operation.value);
    } else {
      if (operation.op === 'copy') copyBudget -= checkCopy(copy, operation, i, copyBudget);
      [failure] = applyPatch(copy, [operation]);
    }
    if (failure) {
      if (failure instanceof InvalidOperationError) throw new BadRequestError('FHIR_ERR_REST_PATCH_MALFORMED', `JSON Patch operation ${i} is not valid`);
      throw new UnprocessableError('FHIR_ERR_REST_PATCH_FAILED', `JSON Patch operation ${i} (${operation.op} ${operation.path}) failed: ${failure.name}`);
    }
  }
  // Adds and moves can also build depth, one shallow step at a time.
  if (jsonDepth(copy) > MAX_JSON_DEPTH) {
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
 * deep by earlier operations would exhaust the stack. Returns the weight it
 * copies (jsonWeight).
 */
function checkCopy(target: Resource, operation: Operation & { from: string }, index: number, budget: number): number {
  const source = Pointer.fromJSON(operation.from).evaluate(target).value;
  // Where it lands: one level per token of the path (the first token is the root's).
  const landing = Pointer.fromJSON(operation.path).tokens.length - 1;
  const tooDeep = landing + jsonDepth(source, MAX_JSON_DEPTH - landing) > MAX_JSON_DEPTH;
  const weight = tooDeep ? 0 : jsonWeight(source, budget);
  if (tooDeep || weight > budget) {
    throw new UnprocessableError('FHIR_ERR_REST_PATCH_TOO_LARGE',
      `JSON Patch operation ${index} (copy ${operation.from} to ${operation.path}) would make ${tooDeep ? `the resource nest objects and arrays more than ${MAX_JSON_DEPTH} levels deep` : 'the copies add more than twice the size of the resource and the patch together'}`);
  }
  return weight;
}

/** Deep equality of JSON values (RFC 6902 §4.6), iterative, stopping at the first difference. */
function jsonEqual(a: unknown, b: unknown): boolean {
  const pairs: Array<[unknown, unknown]> = [[a, b]];
  for (let pair = pairs.pop(); pair !== undefined; pair = pairs.pop()) {
    const [x, y] = pair;
    if (x === y) continue;
    if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object' || Array.isArray(x) !== Array.isArray(y)) return false;
    if (Array.isArray(x)) {
      const ys = y as unknown[];
      if (x.length !== ys.length) return false;
      for (let i = 0; i < x.length; i++) pairs.push([x[i], ys[i]]);
    } else {
      const xKeys = Object.keys(x);
      if (xKeys.length !== Object.keys(y).length) return false;
      for (const key of xKeys) {
        if (!Object.prototype.hasOwnProperty.call(y, key)) return false;
        pairs.push([(x as Record<string, unknown>)[key], (y as Record<string, unknown>)[key]]);
      }
    }
  }
  return true;
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
