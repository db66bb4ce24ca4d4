import { XMLValidator } from 'fast-xml-parser';

/**
 * R4's xhtml type is well-formed XML (narrative.html#xhtml): `<p>unclosed</div>`
 * or a bare `a < b & c` is not, whatever the browser would make of it. Checked
 * by fast-xml-parser's validator (pure JS, no DOM) rather than by hand; named
 * HTML entities such as `&nbsp;` pass, as in the R4 examples.
 * Returns what is wrong, with its place in the div, or undefined when well-formed.
 */
export function xhtmlSyntaxError(div: string): string | undefined {
  const result = XMLValidator.validate(div);
  if (result === true) return undefined;
  const { msg, line, col } = result.err;
  return `${msg.replace(/\.$/, '')} (line ${line}, column ${col})`;
}
