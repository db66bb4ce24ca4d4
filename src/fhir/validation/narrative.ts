/**
 * txt-1/txt-2 (`htmlChecks()`): a narrative is an XHTML div using only the basic
 * formatting elements of HTML 4 (no scripts, forms, frames, event handlers or
 * `javascript:` URLs), and it says something (text or an image).
 * This is a conservative scan, not an HTML parser: anything we cannot vouch for
 * is refused. Whether the div is well-formed XML is xhtml-syntax.ts's job.
 * R4 gives both rules the same FHIRPath, `htmlChecks()`; they are told apart
 * here so that a div breaking one is not reported as breaking the other.
 */
const ALLOWED_TAGS = new Set(['a', 'abbr', 'acronym', 'b', 'big', 'blockquote', 'br', 'caption', 'cite', 'code', 'col',
  'colgroup', 'dd', 'dfn', 'div', 'dl', 'dt', 'em', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'li', 'ol', 'p',
  'pre', 'q', 'samp', 'small', 'span', 'strong', 'sub', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr', 'tt',
  'ul', 'var', 'u', 's', 'strike', 'del', 'ins', 'address', 'center', 'font', 'kbd', 'bdo', 'label']);

const TAG = /<\s*(\/?)\s*([A-Za-z][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g;
const ATTR = /([A-Za-z_:][\w:.-]*)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s>]+))?/g;

/** Both rules: what `htmlChecks()` means in the profiles' FHIRPath. */
export function isSafeNarrative(div: string): boolean {
  return hasOnlyBasicHtml(div) && hasNarrativeContent(div);
}

/** txt-1: an XHTML div, only basic formatting elements, no scripts or event handlers. */
export function hasOnlyBasicHtml(div: string): boolean {
  const trimmed = div.trim();
  if (!/^<div[\s>]/.test(trimmed) || !/xmlns\s*=\s*["']http:\/\/www\.w3\.org\/1999\/xhtml["']/.test(trimmed.slice(0, trimmed.indexOf('>') + 1))) return false;
  if (/<!\[CDATA\[|<!DOCTYPE|<\?/i.test(trimmed)) return false;
  for (const m of trimmed.matchAll(TAG)) {
    const tag = m[2].toLowerCase().replace(/^xhtml:/, '');
    if (!ALLOWED_TAGS.has(tag)) return false;
    for (const a of (m[3] ?? '').matchAll(ATTR)) {
      const name = a[1].toLowerCase();
      const value = (a[2] ?? '').replace(/^["']|["']$/g, '').trim().toLowerCase();
      if (name.startsWith('on')) return false;
      if ((name === 'href' || name === 'src') && /^(javascript|vbscript|data:text\/html)/.test(value.replace(/\s+/g, ''))) return false;
    }
  }
  return true;
}

/** txt-2: some non-whitespace text, or an image. */
export function hasNarrativeContent(div: string): boolean {
  const text = div.replace(TAG, '').replace(/&nbsp;|&#160;/g, ' ').trim();
  return text.length > 0 || /<\s*img\b/i.test(div);
}
