import type { Resource } from '@medplum/fhirtypes';
import { applyPatch, type Operation } from 'rfc6902';
import { InvalidOperationError, MissingError } from 'rfc6902/patch.js';
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
    const failed = (why: string) => new UnprocessableError('FHIR_ERR_REST_PATCH_FAILED', `JSON Patch operation ${i} (${operation.op} ${operation.path}) failed: ${why}`);
    const missing = checkLocations(copy, operation);
    if (missing) throw failed(missing);
    if (operation.op === 'test') {
      // Compared here: rfc6902 compares by computing a diff, recursively, in
      // time and memory that grow with the cube of an array's length.
      if (!jsonEqual(locate(copy, tokensOf(operation.path)).value, operation.value)) throw failed('the value there is not the one tested');
      continue;
    }
    if (operation.op === 'copy') copyBudget -= checkCopy(copy, operation, i, copyBudget);
    const [failure] = applyPatch(copy, [operation]);
    if (failure instanceof InvalidOperationError) throw new BadRequestError('FHIR_ERR_REST_PATCH_MALFORMED', `JSON Patch operation ${i} is not valid`);
    if (failure) throw failed(failure instanceof MissingError ? 'no such location' : 'it cannot apply there');
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
  // checkLocations has found the source: read it as JSON, as everything else here.
  const source = locate(target, tokensOf(operation.from)).value;
  // Where it lands: one level per token of the path.
  const landing = tokensOf(operation.path).length;
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

/**
 * Why an operation's locations do not exist in `doc`, read as JSON and
 * nothing else (RFC 6901 §4, RFC 6902 §4): an array is addressed only by a
 * decimal index without leading zeros (or `-`, past its end, where `add`,
 * `move` and `copy` may write), an object by its own members. rfc6902 reads
 * JavaScript: `/name/length` passed a `test`, and `replace /name/foo` set a
 * property that JSON drops, answering 200 for a patch that changed nothing.
 * Undefined when they exist.
 */
function checkLocations(doc: unknown, operation: Operation): string | undefined {
  const target = tokensOf(operation.path);
  if (operation.op === 'move' || operation.op === 'copy') {
    if (!locate(doc, tokensOf(operation.from)).found) return `${operation.from} (from) does not exist`;
  }
  if (operation.op === 'add' || operation.op === 'move' || operation.op === 'copy') {
    if (target.length === 0) return undefined;
    const parent = locate(doc, target.slice(0, -1));
    const last = target[target.length - 1]!;
    if (!parent.found || parent.value === null || typeof parent.value !== 'object') return 'the element it adds to does not exist';
    if (Array.isArray(parent.value) && last !== '-' && !(ARRAY_INDEX.test(last) && Number(last) <= parent.value.length)) {
      return `"${last.slice(0, 40)}" is no position in that array (0 to ${parent.value.length}, or -)`;
    }
    return undefined;
  }
  return locate(doc, target).found ? undefined : 'no such location';
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,8})$/;

/** A pointer's reference tokens, unescaped (`~1` is `/`, `~0` is `~`); none for the whole document. */
function tokensOf(pointer: string): string[] {
  return Pointer.fromJSON(pointer).tokens.slice(1);
}

/** The value the tokens address in a JSON document, if there is one. */
function locate(doc: unknown, tokens: readonly string[]): { found: boolean; value?: unknown } {
  let value = doc;
  for (const token of tokens) {
    if (Array.isArray(value)) {
      if (!ARRAY_INDEX.test(token) || Number(token) >= value.length) return { found: false };
      value = value[Number(token)];
    } else if (value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, token)) {
      value = (value as Record<string, unknown>)[token];
    } else {
      return { found: false };
    }
  }
  return { found: true, value };
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
