import { isUtf8 } from 'node:buffer';
import { BadRequestError } from '../errors.js';
import { assertJsonDepth, MAX_JSON_DEPTH } from './json-depth.js';
import { assertFiniteNumbers, duplicateKeyError, prototypeKeyError, unkeptNumberError } from './json-refusals.js';
import { findInJsonSource } from './json-source.js';

/**
 * What a JSON request body must pass once parsed, looking at its text and
 * its value together, so that nothing a client sent is silently changed:
 * - nesting within MAX_JSON_DEPTH (json-depth.ts);
 * - no key twice in one object (JSON.parse keeps the last);
 * - no number JSON.parse does not keep: Infinity (`1e400`), a non-zero
 *   literal that underflows to 0 (`1e-400`), an integer literal past
 *   Number.MAX_SAFE_INTEGER (`9007199254740993` becomes ...992). Decimals
 *   whose last digits go past a double's precision are kept as every JSON
 *   server keeps them (json-source.ts numberProblem says why).
 *
 * This runs on every write, so the usual body costs one walk of the parsed
 * value (which replaces the walks the depth and Infinity checks made each on
 * their own) and native searches of the text for `:` and `\u003`. Colons outside
 * strings are the object members as written; the walk counts the members
 * JSON.parse kept and the colons inside the strings it kept. Only a key
 * written twice, a colon inside a key, or an escaped colon (`\u003a`) can
 * make the two disagree, and only then is the text read token by token
 * (json-source.ts) to find the key. Numbers need no look at the text unless
 * the walk met a 0, or a value past 2^53 - 1 in magnitude, or Infinity: only
 * those can come from a literal that was changed.
 */
export function checkJsonBody(text: string, value: unknown, options: JsonBodyOptions = {}): void {
  const subject = options.subject ?? 'the request body';
  const found = survey(value, options.refusePrototypeKeys === true);
  if (found.tooDeep) assertJsonDepth(value, options.subject === undefined ? undefined : capitalised(options.subject));
  if (found.prototypeKey) {
    const refusal = prototypeKeyError(text, subject);
    if (refusal) throw refusal;
  }
  if (countColons(text) !== found.members + found.colonsInStrings || hasEscapedColon(text)) {
    const duplicate = findInJsonSource(text, { duplicateKeys: true, numbers: false });
    if (duplicate?.kind === 'duplicate-key') throw duplicateKeyError(value, duplicate.pointer, duplicate.key, subject);
  }
  if (found.unsafeNumber) assertFiniteNumbers(value, subject);
  if (found.unsafeNumber || (found.zero && mayUnderflow(text))) {
    const number = findInJsonSource(text, { duplicateKeys: false, numbers: true });
    if (number?.kind === 'number') throw unkeptNumberError(value, number.pointer, number.literal, number.problem, subject);
  }
}

export interface JsonBodyOptions {
  /** Names the value in messages: 'the request body' unless told ('the JSON Patch'). */
  subject?: string;
  /**
   * For a value from plain JSON.parse, which keeps a `__proto__` key as an own
   * property: refuse it, and a `constructor` key holding `prototype`, as
   * Fastify's parser does for request bodies (json-refusals.ts).
   */
  refusePrototypeKeys?: boolean;
}

/**
 * A JSON request body read outside the content-type parser (fhir-content.ts),
 * with the same refusals: not UTF-8, not JSON, empty, prototype keys, and
 * checkJsonBody's. For routes that read their body themselves (a Binary sent
 * as FHIR JSON). A leading byte order mark is skipped, as Fastify's parser does.
 */
export function parseJsonBody(body: Buffer | string, subject?: string): unknown {
  const named = capitalised(subject ?? 'the request body');
  if (typeof body !== 'string' && !isUtf8(body)) throw new BadRequestError('FHIR_ERR_HTTP_MALFORMED', `${named} is not valid UTF-8`);
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (json.trim() === '') throw new BadRequestError('FHIR_ERR_HTTP_MALFORMED', `${named} is empty`);
  let value: unknown;
  try {
    value = JSON.parse(json) as unknown;
  } catch {
    throw new BadRequestError('FHIR_ERR_HTTP_MALFORMED', `${named} is not valid JSON`);
  }
  checkJsonBody(json, value, { subject, refusePrototypeKeys: true });
  return value;
}

interface Survey {
  /** Object members JSON.parse kept. */
  members: number;
  /** Colons in the string values it kept (keys left out: a colon in a key only sends us to the text). */
  colonsInStrings: number;
  tooDeep: boolean;
  prototypeKey: boolean;
  /** A number that is 0: it may come from a literal that underflowed. */
  zero: boolean;
  /** A number past 2^53 - 1 in magnitude, or not finite. */
  unsafeNumber: boolean;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * One iterative walk: depth (as jsonDepth, stopping once past the bound),
 * members, colons in strings, numbers to look at again. As json-depth.ts's
 * walks: two parallel stacks rather than an object per node, every child
 * handled in place; this runs on every JSON body.
 */
function survey(root: unknown, watchPrototypeKeys: boolean): Survey {
  let members = 0;
  let colonsInStrings = 0;
  let prototypeKey = false;
  let zero = false;
  let unsafeNumber = false;
  let tooDeep = false;
  if (typeof root === 'string') {
    colonsInStrings = countColons(root);
  } else if (typeof root === 'number') {
    if (root === 0) zero = true;
    else if (!(root > 0 ? root <= MAX_SAFE : root >= -MAX_SAFE)) unsafeNumber = true;
  }
  const nodes: object[] = root !== null && typeof root === 'object' ? [root] : [];
  const depths: number[] = [1];
  // (No closure over these counters: it would keep them off the registers in this hot loop.)
  for (let node = nodes.pop(); node !== undefined; node = nodes.pop()) {
    const depth = depths.pop()!;
    if (depth > MAX_JSON_DEPTH) {
      tooDeep = true;
      break;
    }
    if (Array.isArray(node)) {
      for (const child of node as unknown[]) {
        if (typeof child === 'string') {
          if (child.indexOf(':') !== -1) colonsInStrings += countColons(child);
        } else if (typeof child === 'number') {
          if (child === 0) zero = true;
          else if (!(child > 0 ? child <= MAX_SAFE : child >= -MAX_SAFE)) unsafeNumber = true;
        } else if (child !== null && typeof child === 'object') {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in node) {
        members++;
        if (watchPrototypeKeys && (key === '__proto__' || key === 'constructor')) prototypeKey = true;
        const child = (node as Record<string, unknown>)[key];
        if (typeof child === 'string') {
          if (child.indexOf(':') !== -1) colonsInStrings += countColons(child);
        } else if (typeof child === 'number') {
          if (child === 0) zero = true;
          else if (!(child > 0 ? child <= MAX_SAFE : child >= -MAX_SAFE)) unsafeNumber = true;
        } else if (child !== null && typeof child === 'object') {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
  return { members, colonsInStrings, tooDeep, prototypeKey, zero, unsafeNumber };
}

/**
 * Whether a literal of this text may have underflowed to 0: only one with a
 * negative exponent (`1e-400`), or with 323 zeros or more after its point.
 * Native searches, no regular expression: a 0 is common in bodies.
 */
function mayUnderflow(text: string): boolean {
  return text.includes('e-') || text.includes('E-') || text.includes(MANY_ZEROS);
}

const MANY_ZEROS = '0'.repeat(300);

/**
 * Whether the text escapes a colon (`\u003a`): the walk counts it in its
 * string, the text has no `:` for it, so one dropped member could hide behind
 * it. Other `\u003_` escapes (`\u003c`, which Gson writes for every `<`) are
 * skipped over.
 */
function hasEscapedColon(text: string): boolean {
  for (let at = text.indexOf('\\u003'); at !== -1; at = text.indexOf('\\u003', at + 5)) {
    if ((text.charCodeAt(at + 5) | 0x20) === 0x61 /* a or A */) return true;
  }
  return false;
}

/** How many `:` the text holds: a native search per colon. */
function countColons(text: string): number {
  let count = 0;
  for (let at = text.indexOf(':'); at !== -1; at = text.indexOf(':', at + 1)) count++;
  return count;
}

function capitalised(subject: string): string {
  return subject.charAt(0).toUpperCase() + subject.slice(1);
}
