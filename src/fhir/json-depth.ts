import { BadRequestError } from '../errors.js';

/**
 * The deepest nesting of objects and arrays accepted in a JSON body: far
 * beyond any real resource (a Questionnaire's nested items take two levels
 * each), and well within what the recursive steps after parsing (validation,
 * index extraction, serialisation) can walk without exhausting the stack.
 */
export const MAX_JSON_DEPTH = 128;

/** Throws a 400 when `value` nests deeper than MAX_JSON_DEPTH; iterative, so the check itself cannot overflow. */
export function assertJsonDepth(value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  const stack: Array<{ node: object; depth: number }> = [{ node: value, depth: 1 }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { node, depth } = item;
    if (depth > MAX_JSON_DEPTH) {
      throw new BadRequestError('FHIR_ERR_HTTP_BAD_REQUEST', `The JSON body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`);
    }
    const children = Array.isArray(node) ? node : Object.values(node);
    for (const child of children) if (child !== null && typeof child === 'object') stack.push({ node: child as object, depth: depth + 1 });
  }
}
