import { XMLValidator } from 'fast-xml-parser';
import { isXmlChar } from './narrative.js';

/**
 * R4's xhtml type is well-formed XML (narrative.html#xhtml): `<p>unclosed</div>`
 * or a bare `a < b & c` is not, whatever the browser would make of it. Checked
 * by fast-xml-parser's validator (pure JS, no DOM) rather than by hand, then for
 * what that validator lets through:
 * - references: XML without a DTD knows only `&amp; &lt; &gt; &quot; &apos;` and
 *   character references to characters XML allows; `&nbsp;`, `&copy;` and the
 *   other HTML entities are undefined (write the character, or `&#160;`), and a
 *   reference without its `;` is HTML's, not XML's (checked in text and in
 *   attribute values, where the validator checks none);
 * - a `<` inside an attribute value;
 * - `--` inside a comment.
 * Returns what is wrong, with its place in the div, or undefined when well-formed.
 */
export function xhtmlSyntaxError(div: string): string | undefined {
  const result = XMLValidator.validate(div);
  if (result !== true) {
    const { msg, line, col } = result.err;
    return `${msg.replace(/\.$/, '')} (line ${line}, column ${col})`;
  }
  return markupError(div);
}

const PREDEFINED = new Set(['amp', 'lt', 'gt', 'quot', 'apos']);
const REFERENCE = /&(?:#([0-9]+)|#x([0-9a-fA-F]+)|([A-Za-z_:][\w.:-]*))?(;?)/y;
/** A tag the validator accepted: quoted values may hold `>`. */
const TAG = /<[^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*>/y;

/** One pass over a div the validator accepted: references, `<` in attribute values, comments. */
function markupError(div: string): string | undefined {
  if (!div.includes('&') && !div.includes('<!--')) {
    // No reference to check: only a `<` inside an attribute value is left to find.
    if (!/=\s*(?:"[^"]*<|'[^']*<)/.test(div)) return undefined;
  }
  let from = 0;
  for (let at = div.indexOf('<'); at !== -1; at = div.indexOf('<', from)) {
    const inText = referencesError(div, from, at);
    if (inText) return inText;
    const special = div.startsWith('<!--', at) ? '-->' : div.startsWith('<?', at) ? '?>' : div.startsWith('<![CDATA[', at) ? ']]>' : '';
    if (special) {
      // Comments, CDATA sections and processing instructions hold text as it is (txt-1 refuses the last two).
      const end = div.indexOf(special, at + 2);
      if (end === -1) return undefined; // the validator would have said
      if (special === '-->' && /--|-$/.test(div.slice(at + 4, end))) return `"--" inside a comment ${place(div, at)}`;
      from = end + special.length;
      continue;
    }
    TAG.lastIndex = at;
    if (!TAG.exec(div)) return undefined; // the validator would have said
    const lt = div.indexOf('<', at + 1);
    if (lt !== -1 && lt < TAG.lastIndex) return `'<' inside an attribute value (write &lt;) ${place(div, lt)}`;
    const inTag = referencesError(div, at, TAG.lastIndex);
    if (inTag) return inTag;
    from = TAG.lastIndex;
  }
  return referencesError(div, from, div.length);
}

/** The first bad reference of div[from, to). */
function referencesError(div: string, from: number, to: number): string | undefined {
  for (let at = div.indexOf('&', from); at !== -1 && at < to; at = div.indexOf('&', at + 1)) {
    const problem = referenceError(div, at);
    if (problem) return problem;
  }
  return undefined;
}

function referenceError(div: string, at: number): string | undefined {
  REFERENCE.lastIndex = at;
  const m = REFERENCE.exec(div)!;
  const [, decimal, hex, name, semicolon] = m;
  if (decimal === undefined && hex === undefined && name === undefined) return `'&' starts no reference (write &amp;) ${place(div, at)}`;
  if (!semicolon) return `a reference lacks its ';' ${place(div, at)}`;
  if (name !== undefined) {
    if (PREDEFINED.has(name)) return undefined;
    const shown = /^[A-Za-z][A-Za-z0-9]{0,15}$/.test(name) ? `&${name};` : 'an entity';
    return `${shown} is not defined: XHTML in XML knows only &amp; &lt; &gt; &quot; &apos; (write the character itself, or a character reference such as &#160;) ${place(div, at)}`;
  }
  const digits = (decimal ?? hex)!.replace(/^0+(?=.)/, '');
  const fits = digits.length <= (decimal !== undefined ? 7 : 6);
  if (!fits || !isXmlChar(Number.parseInt(digits, decimal !== undefined ? 10 : 16))) return `a character reference names a character XML does not allow ${place(div, at)}`;
  return undefined;
}

/** `(line l, column c)` of offset `at`, both from 1, as the validator tells its own. */
function place(div: string, at: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = div.indexOf('\n'); i !== -1 && i < at; i = div.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `(line ${line}, column ${at - lineStart + 1})`;
}
