/**
 * Finds, in the text of a JSON body, what JSON.parse hides: a key written
 * twice in one object (the last one silently wins) and a number literal
 * that the parsed number does not keep. Only for text that JSON.parse has
 * already accepted, and only on the slow path (json-body.ts decides when):
 * it reads tokens and tracks where it is, and builds no values and checks
 * no grammar.
 */

/** What was found, with the JSON pointer of the key (its member) or of the number. */
export type SourceFinding =
  | { kind: 'duplicate-key'; pointer: string; key: string }
  | { kind: 'number'; pointer: string; literal: string; problem: NumberProblem };

/** Why a number literal is not kept: it underflows to 0, or it is an integer beyond 2^53 - 1. */
export type NumberProblem = 'underflow' | 'unsafe-integer';

interface Container {
  pointer: string;
  isArray: boolean;
  /** The array's current index. */
  index: number;
  /** The object's keys so far (only when looking for duplicates), and the key whose value comes next. */
  keys: Set<string> | undefined;
  key: string;
  expectsKey: boolean;
}

/**
 * The first duplicate key or unkept number, in text order. `look` says which
 * of the two to look for.
 */
export function findInJsonSource(text: string, look: { duplicateKeys: boolean; numbers: boolean }): SourceFinding | undefined {
  const stack: Container[] = [];
  const pointerOfNextValue = (): string => {
    const top = stack[stack.length - 1];
    if (top === undefined) return '';
    return `${top.pointer}/${top.isArray ? String(top.index) : escapePointer(top.key)}`;
  };
  const length = text.length;
  let i = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const isArray = c === 0x5b;
      stack.push({ pointer: pointerOfNextValue(), isArray, index: 0, keys: !isArray && look.duplicateKeys ? new Set() : undefined, key: '', expectsKey: !isArray });
      i++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      i++;
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.isArray) top.index++;
      else if (top) top.expectsKey = true;
      i++;
    } else if (c === 0x3a /* : */) {
      const top = stack[stack.length - 1];
      if (top) top.expectsKey = false;
      i++;
    } else if (c === 0x22 /* " */) {
      const end = closingQuote(text, i);
      const top = stack[stack.length - 1];
      if (top !== undefined && !top.isArray && top.expectsKey) {
        // A key: decoded as JSON.parse decodes it (`"gen\u0064er"` is "gender").
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        top.key = key;
        if (top.keys !== undefined) {
          if (top.keys.has(key)) return { kind: 'duplicate-key', pointer: `${top.pointer}/${escapePointer(key)}`, key };
          top.keys.add(key);
        }
      }
      i = end + 1;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      while (end < length && isNumberChar(text.charCodeAt(end))) end++;
      if (look.numbers) {
        const literal = text.slice(i, end);
        const problem = numberProblem(literal);
        if (problem) return { kind: 'number', pointer: pointerOfNextValue(), literal, problem };
      }
      i = end;
    } else {
      // Whitespace (a byte order mark included) and the letters of true, false and null.
      i++;
    }
  }
  return undefined;
}

/**
 * Whether JSON.parse changes what this number literal says:
 * - a literal with a non-zero digit that parses to 0 (`1e-400`) underflows;
 * - an integer literal (no fraction, no exponent) beyond Number.MAX_SAFE_INTEGER
 *   in magnitude (`9007199254740993` parses to ...992) is not kept exactly.
 * Infinity (`1e400`) is refused before, from the parsed value (json-refusals.ts).
 * Ordinary decimals whose last digits go past a double's precision
 * (`0.1234567890123456789`), and trailing zeros (`1.50`), are NOT refused: every
 * server that reads JSON into doubles keeps them so, clients send them all the
 * time, and refusing them would break those clients (README, known limitation).
 */
export function numberProblem(literal: string): NumberProblem | undefined {
  const value = Number(literal);
  if (value === 0) {
    const exponent = literal.search(/[eE]/);
    const mantissa = exponent === -1 ? literal : literal.slice(0, exponent);
    return /[1-9]/.test(mantissa) ? 'underflow' : undefined;
  }
  if (Math.abs(value) > Number.MAX_SAFE_INTEGER && /^-?\d+$/.test(literal)) return 'unsafe-integer';
  return undefined;
}

/** The index of the quote that closes the string opened at `open`: the next one not escaped. */
function closingQuote(text: string, open: number): number {
  let at = text.indexOf('"', open + 1);
  for (;;) {
    // Not in text JSON.parse accepted; ends the scan rather than loop.
    if (at === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = text.indexOf('"', at + 1);
  }
}

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2e /* . */ || c === 0x65 /* e */ || c === 0x45 /* E */ || c === 0x2b /* + */ || c === 0x2d /* - */;
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
