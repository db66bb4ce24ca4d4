import { BadRequestError, ValidationError } from '../errors.js';
import type { NumberProblem } from './json-source.js';
import { pointerToExpression } from './validation/fhir-path-location.js';

/**
 * What a JSON body may hold as JSON but not as FHIR here, each refused with
 * words that say what it is: keys that could poison an object's prototype
 * (Fastify's parser refuses them, then calls the body "not valid JSON"),
 * numbers past the range of a double, which JSON.parse turns into Infinity
 * (and JSON.stringify, on the way to the store or a write worker, into null),
 * and what JSON.parse would silently change: a key written twice in one
 * object, a number that underflows to 0 or an integer past 2^53 - 1. When to
 * look for those is json-body.ts's business; finding them, json-source.ts's.
 */

/**
 * The error for a body Fastify's parser refused: when the text parses as
 * plain JSON, it was refused for a `__proto__` key or a `constructor` key
 * holding `prototype` (secure-json-parse's two checks); otherwise undefined:
 * the body really is not JSON. Called on the error path only, and for a
 * body read with plain JSON.parse whose walk met such a key (json-body.ts).
 */
export function prototypeKeyError(text: string, subject = 'the request body'): BadRequestError | undefined {
  let value: unknown;
  try {
    // A plain parse makes `__proto__` an own property, harmless here: nothing is merged from it.
    value = JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
  const found = locate(value, (node) => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    if (Object.hasOwn(node, '__proto__')) return '__proto__';
    const ctor = (node as Record<string, unknown>).constructor;
    if (Object.hasOwn(node, 'constructor') && ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) return 'constructor';
    return undefined;
  });
  // Not refused for a key after all (another check of the parser): say nothing rather than guess.
  if (!found) return undefined;
  const { pointer, what } = found;
  const key = `${pointer}/${what}`;
  const location = locationOf(value, key);
  const described = what === '__proto__' ? 'a "__proto__" key' : 'a "constructor" key holding a "prototype" key';
  return new BadRequestError('FHIR_ERR_HTTP_MALFORMED',
    `${subject.charAt(0).toUpperCase()}${subject.slice(1)} has ${described} (at ${location.text}), which this server refuses: no FHIR element has that name, and such keys can poison JavaScript objects`,
    location.expression ? { expression: [location.expression] } : undefined);
}

/**
 * Throws a 400 when `value` holds a number that is not finite: a literal too
 * large for a double (1e400, or 400 digits) parses as ±Infinity, which no FHIR
 * decimal or integer can be and which would be stored as null. One walk over the
 * parsed value, with no paths kept; the path is found again only for the error.
 * `subject` names a value that is not a resource (a JSON Patch) in the message.
 */
export function assertFiniteNumbers(value: unknown, subject = 'the request body'): void {
  if (!hasNonFiniteNumber(value)) return;
  const found = locate(value, (node) => (typeof node === 'number' && !Number.isFinite(node) ? 'number' : undefined));
  const location = locationOf(value, found?.pointer ?? '');
  const where = location.expression ?? `${location.text} of ${subject}`;
  throw new ValidationError([{
    severity: 'error', code: 'value',
    diagnostics: `The number at ${where} is out of range: a FHIR decimal or integer must be a finite number, at most about 1.8e308 in magnitude`,
    ...(location.expression ? { expression: [location.expression] } : {}),
  }], 400);
}

/**
 * A key written twice in one object: JSON.parse keeps the last one and drops
 * the other without a word. FHIR JSON forbids it (json.html), RFC 8259 says
 * names SHOULD be unique: refused, naming the key and where it is.
 */
export function duplicateKeyError(value: unknown, pointer: string, key: string, subject = 'the request body'): BadRequestError {
  const location = locationOf(value, pointer);
  const where = location.expression ?? `${location.text} of ${subject}`;
  return new BadRequestError('FHIR_ERR_HTTP_MALFORMED',
    `The key ${quoted(key)} appears twice in the same object (at ${where}): FHIR JSON allows each key once per object, and this server will not choose one of the two values`,
    location.expression ? { expression: [location.expression] } : undefined);
}

/** A number literal JSON.parse would not keep (json-source.ts numberProblem): 400 naming it and the element, as for Infinity. */
export function unkeptNumberError(value: unknown, pointer: string, literal: string, problem: NumberProblem, subject = 'the request body'): ValidationError {
  const location = locationOf(value, pointer);
  const where = location.expression ?? `${location.text} of ${subject}`;
  const shown = literal.length > 40 ? `${literal.slice(0, 37)}...` : literal;
  const kept = String(Number(literal));
  const why = problem === 'underflow'
    ? 'is too close to zero to be kept: it would be stored as 0 (the smallest non-zero number this server keeps is about 5e-324 in magnitude)'
    : `is an integer beyond ±${Number.MAX_SAFE_INTEGER} (2^53 - 1), past which this server cannot keep integers exactly${kept === literal ? '' : ` (it would be stored as ${kept.length > 40 ? `${kept.slice(0, 37)}...` : kept})`}`;
  return new ValidationError([{
    severity: 'error', code: 'value',
    diagnostics: `The number ${shown} at ${where} ${why}`,
    ...(location.expression ? { expression: [location.expression] } : {}),
  }], 400);
}

/** A key as the message shows it: JSON-quoted, and cut when long. */
function quoted(key: string): string {
  const text = JSON.stringify(key);
  return text.length > 66 ? `${text.slice(0, 62)}..."` : text;
}

function hasNonFiniteNumber(value: unknown): boolean {
  if (typeof value === 'number') return !Number.isFinite(value);
  if (value === null || typeof value !== 'object') return false;
  // As jsonDepth's walk (json-depth.ts): no array or object per node, this runs on every JSON body.
  const pending: object[] = [value];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (Array.isArray(node)) {
      for (const child of node) {
        if (typeof child === 'number') {
          if (!Number.isFinite(child)) return true;
        } else if (child !== null && typeof child === 'object') pending.push(child as object);
      }
    } else {
      for (const key in node) {
        const child = (node as Record<string, unknown>)[key];
        if (typeof child === 'number') {
          if (!Number.isFinite(child)) return true;
        } else if (child !== null && typeof child === 'object') pending.push(child);
      }
    }
  }
  return false;
}

/** The first node (depth first, iteratively) for which `test` names something, with its JSON pointer. */
function locate(value: unknown, test: (node: unknown) => string | undefined): { pointer: string; what: string } | undefined {
  const pending: Array<[unknown, string]> = [[value, '']];
  for (let entry = pending.pop(); entry !== undefined; entry = pending.pop()) {
    const [node, pointer] = entry;
    const what = test(node);
    if (what !== undefined) return { pointer, what };
    if (node === null || typeof node !== 'object') continue;
    const children: Array<[string, unknown]> = Array.isArray(node) ? node.map((c, i) => [String(i), c]) : Object.entries(node);
    for (let i = children.length - 1; i >= 0; i--) {
      const [key, child] = children[i]!;
      pending.push([child, `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`]);
    }
  }
  return undefined;
}

/** A FHIRPath location in a resource (`Observation.valueQuantity.value`), else the JSON pointer (a JSON Patch's `/0/value`). */
function locationOf(root: unknown, pointer: string): { text: string; expression?: string } {
  const resourceType = root !== null && typeof root === 'object' && !Array.isArray(root) ? (root as { resourceType?: unknown }).resourceType : undefined;
  if (typeof resourceType === 'string' && /^[A-Z][A-Za-z]{0,63}$/.test(resourceType)) {
    const expression = pointerToExpression(resourceType, pointer);
    return { text: expression, expression };
  }
  return { text: pointer === '' ? 'the top level' : `JSON pointer ${pointer}` };
}
