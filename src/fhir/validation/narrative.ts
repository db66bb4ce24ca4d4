/**
 * txt-1/txt-2 (`htmlChecks()`): a narrative is an XHTML div using only the basic
 * formatting elements of HTML 4 (no scripts, forms, frames, event handlers or
 * script URLs), and it says something (text or an image).
 *
 * Apps render the div with an HTML parser (innerHTML), so txt-1 judges it as a
 * browser would read it, not as its raw text: attribute values are decoded
 * (`&#106;avascript:` is `javascript:`), URLs are normalised the way the URL
 * parser does it (tab, newline and CR dropped anywhere, C0 controls and spaces
 * trimmed) before their scheme is judged against an allow-list, `style` is read
 * with its CSS comments and escapes removed, and markup that XML and HTML read
 * differently (`<!-->`) is refused. This is a conservative scan, not an HTML
 * parser: anything we cannot vouch for is refused. Whether the div is
 * well-formed XML is xhtml-syntax.ts's job; this scan stands on its own too (the
 * profiles' `htmlChecks()` calls it directly).
 * R4 gives both rules the same FHIRPath, `htmlChecks()`; they are told apart
 * here so that a div breaking one is not reported as breaking the other.
 */
const XHTML_NS = 'http://www.w3.org/1999/xhtml';

const ALLOWED_TAGS = new Set(['a', 'abbr', 'acronym', 'b', 'big', 'blockquote', 'br', 'caption', 'cite', 'code', 'col',
  'colgroup', 'dd', 'dfn', 'div', 'dl', 'dt', 'em', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'li', 'ol', 'p',
  'pre', 'q', 'samp', 'small', 'span', 'strong', 'sub', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr', 'tt',
  'ul', 'var', 'u', 's', 'strike', 'del', 'ins', 'address', 'center', 'font', 'kbd', 'bdo', 'label']);

/**
 * Attributes, as the FHIR reference validator allows them (org.hl7.fhir.validation
 * XhtmlValidator: HTML 4's core, i18n and table attributes on any element, the
 * others on their element), plus those of the few HTML 4 elements ALLOWED_TAGS
 * adds to its list. Namespace declarations (`xmlns`, `xmlns:p`) may only name XHTML.
 */
const GLOBAL_ATTRIBUTES = new Set(['title', 'style', 'class', 'id', 'lang', 'xml:lang', 'xml:space', 'dir', 'accesskey', 'tabindex',
  'span', 'width', 'align', 'valign', 'char', 'charoff', 'abbr', 'axis', 'headers', 'scope', 'rowspan', 'colspan']);
const ELEMENT_ATTRIBUTES: Record<string, ReadonlySet<string>> = {
  a: new Set(['href', 'name', 'charset', 'type', 'hreflang', 'rel', 'rev', 'shape', 'coords']),
  img: new Set(['src', 'alt', 'longdesc', 'height', 'width', 'usemap', 'ismap', 'border']),
  blockquote: new Set(['cite']),
  q: new Set(['cite']),
  del: new Set(['cite', 'datetime']),
  ins: new Set(['cite', 'datetime']),
  table: new Set(['summary', 'width', 'border', 'frame', 'rules', 'cellspacing', 'cellpadding']),
  td: new Set(['nowrap']),
  th: new Set(['nowrap']),
  pre: new Set(['space']),
  font: new Set(['color', 'size', 'face']),
  label: new Set(['for']),
};

/** The allowed attributes whose value is a URL, judged by refusedScheme. */
const URL_ATTRIBUTES = new Set(['href', 'src', 'cite', 'longdesc', 'usemap']);

/**
 * Schemes a link or image may use; a URL without a scheme (relative, `#fragment`,
 * `?query`, `//host`) is fine. `urn:uuid:` and `urn:oid:` name Bundle entries in
 * FHIR documents; `ftp:` appears in R4's own examples. Everything else (javascript:,
 * vbscript:, data: outside images, file:, custom protocol handlers) is refused.
 */
const WEB_SCHEMES = new Set(['http', 'https', 'ftp', 'mailto', 'tel']);
/**
 * `data:` only for raster images, in `<img src>` or a CSS `url()`, where no script
 * can run (the specification's own narratives draw their icons so, as `data: image/png`).
 * Never SVG, which carries script when opened as a document.
 */
const IMAGE_DATA_URL = /^data:[\t\n\f\r ]*image\/(?:png|gif|jpeg|jpg|webp|bmp)[\t\n\f\r ]*[;,]/i;

const TAG = /<\s*(\/?)\s*([A-Za-z][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g;
/** A tag as XML writes it: its name right after `<`, then attributes each after a space and quoted, then `>`. */
const TAG_NAME = /<(\/?)([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)/y;
const TAG_ATTRIBUTE = /\s+([A-Za-z_:][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/y;
const TAG_END = /\s*(\/?)>/y;
/** Namespace declarations anywhere in the div (a value that is not an attribute's only makes this stricter). */
const NAMESPACE_DECLARATION = /\sxmlns:([A-Za-z_][\w.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
const PREDEFINED_ENTITIES = new Map([['amp', '&'], ['lt', '<'], ['gt', '>'], ['quot', '"'], ['apos', "'"]]);
const REFERENCE = /&(?:#([0-9]+)|#x([0-9a-fA-F]+)|([A-Za-z_:][\w.:-]*));/y;

/** Both rules: what `htmlChecks()` means in the profiles' FHIRPath. */
export function isSafeNarrative(div: string): boolean {
  return hasOnlyBasicHtml(div) && hasNarrativeContent(div);
}

/** txt-1: an XHTML div, only basic formatting elements, no scripts, event handlers or script URLs. */
export function hasOnlyBasicHtml(div: string): boolean {
  return narrativeProblem(div) === undefined;
}

/**
 * What breaks txt-1 in `div`, in words a client can act on, or undefined when
 * it holds. Only text of our own (element and attribute names we allow, schemes)
 * goes into the answer, never a piece of the div.
 */
export function narrativeProblem(div: string): string | undefined {
  const trimmed = div.trim();
  if (!/^<div[\s>/]/.test(trimmed)) return 'the narrative is not an XHTML div';
  // Prefixes are bound once for the whole div, and each must name XHTML: an element in another namespace is not HTML.
  const prefixes = new Set<string>();
  if (trimmed.includes('xmlns:')) {
    for (const m of trimmed.matchAll(NAMESPACE_DECLARATION)) {
      if (decodeValue(m[2] ?? m[3]!) !== XHTML_NS) return OTHER_NAMESPACE;
      prefixes.add(m[1]!);
    }
  }
  // Every `<` must open a tag or a comment that XML and HTML read alike: a `<` this scan could not
  // read would be markup it never judged.
  let rootNamespace: string | undefined;
  for (let i = 0; i !== -1; i = trimmed.indexOf('<', i)) {
    if (trimmed.startsWith('<!--', i)) {
      const end = trimmed.indexOf('-->', i + 4);
      if (end === -1) return 'a comment is not closed';
      // HTML ends `<!-->` and `<!--->` at once and a comment at `--!>`; XML does neither: what one parser
      // reads as a comment, the other would read as markup.
      if (/^-?>|--|-$/.test(trimmed.slice(i + 4, end))) return 'a comment holds "--" or starts with ">" (HTML and XML read it differently)';
      i = end + 3;
      continue;
    }
    if (trimmed.startsWith('<!', i) || trimmed.startsWith('<?', i)) return 'the div holds a DOCTYPE, a CDATA section or a processing instruction';
    TAG_NAME.lastIndex = i;
    const tag = TAG_NAME.exec(trimmed);
    if (!tag) return NOT_A_TAG;
    const element = elementName(tag[2]!, prefixes);
    if (element.startsWith('!')) return element.slice(1);
    const closing = tag[1] === '/';
    let at = TAG_NAME.lastIndex;
    const seen = new Set<string>();
    for (;;) {
      TAG_ATTRIBUTE.lastIndex = at;
      const attribute = TAG_ATTRIBUTE.exec(trimmed);
      if (!attribute) break;
      at = TAG_ATTRIBUTE.lastIndex;
      if (closing) return 'a closing tag carries attributes';
      const raw = attribute[2] ?? attribute[3]!;
      // HTML reads names without regard to case, and keeps the first of two: XML would keep both.
      const name = attribute[1]!.toLowerCase();
      if (seen.has(name)) return `<${element}> carries an attribute twice`;
      seen.add(name);
      if (i === 0 && name === 'xmlns') rootNamespace = decodeValue(raw);
      const problem = attributeProblem(element, name, raw);
      if (problem) return problem;
    }
    TAG_END.lastIndex = at;
    const end = TAG_END.exec(trimmed);
    if (!end || (closing && end[1])) return NOT_A_TAG;
    if (i === 0 && rootNamespace !== XHTML_NS) return `the div does not declare the XHTML namespace (xmlns="${XHTML_NS}")`;
    i = TAG_END.lastIndex;
  }
  return undefined;
}

const OTHER_NAMESPACE = 'a namespace other than XHTML is declared (SVG, MathML, XLink and others are not narrative)';
const NOT_A_TAG = 'the div holds markup that is not a plain XHTML tag (every attribute quoted, after a space)';

/** An allowed element's name, without its prefix and in lower case (as HTML reads it), or `!` and what is wrong. */
function elementName(written: string, prefixes: ReadonlySet<string>): string {
  const colon = written.indexOf(':');
  if (colon !== -1 && !prefixes.has(written.slice(0, colon))) return '!an element has a prefix not bound to the XHTML namespace';
  const element = written.slice(colon + 1).toLowerCase();
  if (!ALLOWED_TAGS.has(element)) return `!<${/^[a-z][a-z0-9]{0,15}$/.test(element) ? element : '?'}> is not one of the basic formatting elements`;
  return element;
}

function attributeProblem(element: string, name: string, raw: string): string | undefined {
  if (name === 'xmlns' || name.startsWith('xmlns:')) return decodeValue(raw) === XHTML_NS ? undefined : OTHER_NAMESPACE;
  if (name.startsWith('on')) return `<${element}> carries an event handler attribute`;
  if (name.includes(':') && name !== 'xml:lang' && name !== 'xml:space') return `<${element}> carries an attribute in another namespace than XHTML (xml:base, xlink:... are not allowed)`;
  if (!GLOBAL_ATTRIBUTES.has(name) && !ELEMENT_ATTRIBUTES[element]?.has(name)) return `<${element}> carries an attribute it may not have${/^[a-z][a-z-]{0,15}$/.test(name) ? ` (${name})` : ''}`;
  const value = decodeValue(raw);
  if (value === undefined) return `<${element} ${name}> holds an '&' that starts no character reference nor one of &amp; &lt; &gt; &quot; &apos;`;
  if (URL_ATTRIBUTES.has(name)) {
    const scheme = refusedScheme(value, element === 'img' && name === 'src');
    if (scheme !== undefined) return `<${element} ${name}> uses ${scheme}, which a narrative may not (allowed: http, https, ftp, mailto, tel, urn:uuid, urn:oid, relative URLs, and data: images in <img src>)`;
  }
  if (name === 'style') {
    const problem = styleProblem(value);
    if (problem) return `<${element} style> ${problem}`;
  }
  return undefined;
}

/**
 * An attribute value as an XML (and HTML) parser gives it to the page: character
 * references (decimal and hex) and the five predefined entities decoded.
 * Undefined when an `&` starts anything else (`&nbsp;` and other HTML entities
 * do not exist in XML; a reference without its `;` is HTML's, not XML's).
 */
export function decodeValue(raw: string): string | undefined {
  if (!raw.includes('&')) return raw;
  let out = '';
  let from = 0;
  for (let i = raw.indexOf('&'); i !== -1; i = raw.indexOf('&', from)) {
    REFERENCE.lastIndex = i;
    const m = REFERENCE.exec(raw);
    if (!m) return undefined;
    const decoded = m[3] !== undefined ? PREDEFINED_ENTITIES.get(m[3]) : characterOf(m[1] ?? m[2]!, m[1] !== undefined ? 10 : 16);
    if (decoded === undefined) return undefined;
    out += raw.slice(from, i) + decoded;
    from = REFERENCE.lastIndex;
  }
  return out + raw.slice(from);
}

/** The character a reference's digits name, when XML allows it (Char production). */
function characterOf(digits: string, radix: 10 | 16): string | undefined {
  const significant = digits.replace(/^0+(?=.)/, '');
  if (significant.length > (radix === 10 ? 7 : 6)) return undefined;
  const codePoint = Number.parseInt(significant, radix);
  return isXmlChar(codePoint) ? String.fromCodePoint(codePoint) : undefined;
}

/** XML 1.0's Char: tab, LF, CR, and U+0020 up, without surrogates, U+FFFE and U+FFFF. */
export function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/**
 * The scheme of `url` (`javascript:`) when a narrative may not use it, as a
 * browser's URL parser reads the value: ASCII tab, LF and CR removed wherever
 * they are, leading and trailing C0 controls and spaces trimmed.
 */
function refusedScheme(url: string, imageSource: boolean): string | undefined {
  const normalized = url.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(normalized)?.[1]?.toLowerCase();
  if (scheme === undefined || WEB_SCHEMES.has(scheme)) return undefined;
  if (scheme === 'urn' && /^urn:(?:uuid|oid):/i.test(normalized)) return undefined;
  if (scheme === 'data' && imageSource && IMAGE_DATA_URL.test(normalized)) return undefined;
  return scheme === 'data' ? 'a data: URL other than an image' : /^[a-z][a-z0-9+.-]{0,19}$/.test(scheme) ? `the scheme ${scheme}:` : 'a scheme';
}

/**
 * What is wrong with a `style` value, read as CSS reads it: comments and
 * escapes (`\6a`, `\:`) removed, case folded. Refused: script in CSS
 * (`expression(`, `javascript:`, `behavior`, `-moz-binding`), `@import`, and
 * `url()`s whose scheme a link could not use (data: only for images).
 * Judged twice, comments removed and kept, so that a comment opened inside a
 * string cannot hide what follows it.
 */
export function styleProblem(style: string): string | undefined {
  // Most styles hold neither escapes nor comments: read once, and only when a word to refuse may be there.
  const plain = !style.includes('\\') && !style.includes('/*');
  const readings = plain ? [style.toLowerCase()] : [readCss(style, true), readCss(style, false)];
  if (plain && !/expression|script|behavior|binding|import|url/.test(readings[0]!)) return undefined;
  for (const css of readings) {
    const squeezed = css.replace(/[\u0000-\u0020]+/g, '');
    if (squeezed.includes('expression(')) return 'holds a CSS expression()';
    if (/(?:java|vb)script:/.test(squeezed)) return 'holds a script URL';
    if (squeezed.includes('behavior') || squeezed.includes('-moz-binding')) return 'holds behavior or -moz-binding';
    if (squeezed.includes('@import')) return 'holds @import';
    for (const m of css.matchAll(/url\s*\(\s*("[^"]*"|'[^']*'|[^)]*)/g)) {
      let target = m[1]!.trim();
      if (/^["']/.test(target)) target = target.slice(1, -1);
      if (refusedScheme(target, true) !== undefined) return 'holds a url() whose scheme a narrative may not use';
    }
  }
  return undefined;
}

/** CSS text with its escapes decoded and case folded; comments dropped when `dropComments` (strings kept whole). */
function readCss(css: string, dropComments: boolean): string {
  let out = '';
  let quote = '';
  for (let i = 0; i < css.length; i++) {
    const c = css[i]!;
    if (c === '\\') {
      const hex = /^[0-9a-fA-F]{1,6}[ \t\n\r\f]?/.exec(css.slice(i + 1, i + 8));
      if (hex) {
        const cp = Number.parseInt(hex[0].trim(), 16);
        out += cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? '\ufffd' : String.fromCodePoint(cp);
        i += hex[0].length;
      } else if (css.startsWith('\r\n', i + 1)) {
        i += 2; // a line continuation
      } else if (css[i + 1] === '\n' || css[i + 1] === '\r' || css[i + 1] === '\f') {
        i += 1;
      } else if (i + 1 < css.length) {
        out += css[i + 1];
        i += 1;
      }
      continue;
    }
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (dropComments && c === '/' && css[i + 1] === '*') {
      const end = css.indexOf('*/', i + 2);
      i = end === -1 ? css.length : end + 1;
      continue;
    }
    out += c;
  }
  return out.toLowerCase();
}

/** txt-2: some non-whitespace text, or an image. */
export function hasNarrativeContent(div: string): boolean {
  const text = div.replace(TAG, '').replace(/&nbsp;|&#160;/g, ' ').trim();
  return text.length > 0 || /<\s*img\b/i.test(div);
}
