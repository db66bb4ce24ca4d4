import { BadRequestError } from '../errors.js';

/**
 * The deepest nesting of objects and arrays accepted in a JSON body: far
 * beyond any real resource (a Questionnaire's nested items take two levels
 * each), and well within what the recursive steps after parsing (validation,
 * index extraction, serialisation) can walk without exhausting the stack.
 */
export const MAX_JSON_DEPTH = 128;

/**
 * Throws a 400 when `value` nests deeper than MAX_JSON_DEPTH; iterative, so
 * the check itself cannot overflow. `subject` names the value in the message.
 */
export function assertJsonDepth(value: unknown, subject = 'The JSON body'): void {
  if (value === null || typeof value !== 'object') return;
  // Two parallel stacks rather than an object per node: this runs on every JSON body.
  const nodes: object[] = [value];
  const depths: number[] = [1];
  for (let node = nodes.pop(); node !== undefined; node = nodes.pop()) {
    const depth = depths.pop()!;
    if (depth > MAX_JSON_DEPTH) {
      throw new BadRequestError('FHIR_ERR_HTTP_BAD_REQUEST', `${subject} nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`);
    }
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
}
