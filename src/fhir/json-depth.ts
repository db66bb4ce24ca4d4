import { BadRequestError } from '../errors.js';

/**
 * The deepest nesting of objects and arrays accepted in a JSON body: far
 * beyond any real resource (a Questionnaire's nested items take two levels
 * each), and well within what the recursive steps after parsing (validation,
 * index extraction, serialisation) can walk without exhausting the stack.
 */
export const MAX_JSON_DEPTH = 128;

/**
 * How deep `value` nests objects and arrays (a scalar: 0), walked
 * iteratively (so the walk itself cannot overflow) and only as far as
 * needed: once past `maxDepth`, it answers the depth it reached.
 */
export function jsonDepth(value: unknown, maxDepth = MAX_JSON_DEPTH): number {
  if (value === null || typeof value !== 'object') return 0;
  // Two parallel stacks rather than an object per node: this runs on every JSON body.
  const nodes: object[] = [value];
  const depths: number[] = [1];
  let deepest = 0;
  for (let node = nodes.pop(); node !== undefined; node = nodes.pop()) {
    const depth = depths.pop()!;
    if (depth > deepest) deepest = depth;
    if (depth > maxDepth) return deepest;
    if (Array.isArray(node)) {
      for (const child of node) {
        if (child !== null && typeof child === 'object') {
          nodes.push(child as object);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in node) {
        const child = (node as Record<string, unknown>)[key];
        if (child !== null && typeof child === 'object') {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
  return deepest;
}

/**
 * What holding `value` costs, roughly: one per value (scalars included),
 * plus one per 64 characters of each string. Walked iteratively, and only
 * until it passes `max`.
 */
export function jsonWeight(value: unknown, max = Infinity): number {
  let weight = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0 && weight <= max) {
    const item = pending.pop();
    weight += typeof item === 'string' ? 1 + Math.ceil(item.length / 64) : 1;
    if (item !== null && typeof item === 'object') {
      if (Array.isArray(item)) for (const child of item) pending.push(child);
      else for (const key in item) pending.push((item as Record<string, unknown>)[key]);
    }
  }
  return weight;
}

/** Throws a 400 when `value` nests deeper than MAX_JSON_DEPTH; `subject` names the value in the message. */
export function assertJsonDepth(value: unknown, subject = 'The JSON body'): void {
  if (jsonDepth(value) > MAX_JSON_DEPTH) {
    throw new BadRequestError('FHIR_ERR_HTTP_BAD_REQUEST', `${subject} nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`);
  }
}
