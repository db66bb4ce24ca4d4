/**
 * base64Binary (datatypes.html#base64Binary). R4 publishes the regex
 * `(\s*([0-9a-zA-Z\+\=]){4}\s*)+`, which forgets `/` (an erratum: R4B's has it),
 * so real base64 would fail it. This is that regex with `/`, made strict where
 * the bytes could not be decoded as written: `=` only as the final padding.
 * Node's decoder accepts anything and drops what it does not understand, so
 * "abc" would be silently stored as "abc=".
 *
 * A loop over char codes rather than a regex: Attachment data may be megabytes,
 * and this neither allocates nor backtracks.
 */
export function isBase64Binary(value: string): boolean {
  let count = 0;
  let padding = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    if (c === 61 /* = */) {
      padding++;
    } else if (padding > 0 || !isBase64Char(c)) {
      return false; // a character after the padding, or outside the alphabet
    }
    count++;
  }
  return count > 0 && count % 4 === 0 && padding <= 2;
}

function isBase64Char(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 /* + */ || c === 47 /* / */;
}
