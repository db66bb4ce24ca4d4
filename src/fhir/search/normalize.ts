/**
 * Value normalisation shared by write-time extraction and query parsing: both
 * sides must fold strings and widen dates exactly the same way, or searches
 * silently miss.
 */

/** Lowest and highest instants a date index may hold (JS Date limits; JSON-safe, unlike Infinity). */
export const MIN_DATE_MS = -8_640_000_000_000_000;
export const MAX_DATE_MS = 8_640_000_000_000_000;

const COMBINING_MARKS = /[\u0300-\u036f]/g;
const LIGATURES: Record<string, string> = { œ: 'oe', æ: 'ae', ß: 'ss', ø: 'o', đ: 'd', ł: 'l' };

/** Case- and accent-insensitive form: `  Hélène  Œuvre` -> `helene oeuvre`. */
export function foldString(text: string): string {
  let s = text.toLowerCase();
  // Plain ASCII (most values) skips the Unicode normalisation.
  if (!/^[\x20-\x7e]*$/.test(s)) {
    s = s.normalize('NFD').replace(COMBINING_MARKS, '').replace(/[œæßøđł]/g, (c) => LIGATURES[c] ?? c);
  }
  return UNTIDY_SPACE.test(s) ? s.replace(/\s+/g, ' ').trim() : s;
}

/** Whitespace that folding must tidy: runs, ends, anything but a plain space. */
const UNTIDY_SPACE = /\s\s|^\s|\s$|[^\S ]/;

/**
 * Escapes text for use inside a regular expression, for both engines: a NUL
 * is written `\x00`, since MongoDB refuses a pattern holding the byte itself
 * (a search for `%00` would be its error, a 500) while JavaScript and PCRE
 * both read the escape as that character.
 */
export function escapeRegex(text: string): string {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return escaped.includes('\0') ? escaped.replace(/\0/g, '\\x00') : escaped;
}

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * A FHIR date, dateTime or instant as the closed range of epoch milliseconds
 * its precision covers: `2024` is the whole year, `2024-03-01T10:00:00Z` one
 * second. Values without a timezone are read as UTC (design: the server's
 * zone would make results depend on where it runs). Undefined when malformed.
 */
export function dateRange(text: string): { lo: number; hi: number } | undefined {
  const m = DATE_RE.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) : 1;
  const day = d ? Number(d) : 1;
  if (month < 1 || month > 12) return undefined;
  if (d && (day < 1 || day > daysInMonth(year, month))) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59))) return undefined;
  // A time without a zone is only allowed in queries; a zone without a time never parses (regex).
  const offsetMs = tz && tz !== 'Z' ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60_000 : 0;
  const base = Date.UTC(year, month - 1, day, h ? Number(h) : 0, mi ? Number(mi) : 0, s ? Number(s) : 0) - offsetMs;
  // Date.UTC maps years 0-99 to 1900-1999.
  const lo = year < 100 ? shiftYear(base, year) : base;
  let hi: number;
  // Year and month precision never carry a zone (the grammar puts it after a time).
  if (!mo) hi = startOfDay(year + 1, 1) - 1;
  else if (!d) hi = (month === 12 ? startOfDay(year + 1, 1) : startOfDay(year, month + 1)) - 1;
  else if (h === undefined) hi = lo + 86_400_000 - 1;
  else if (s === undefined) hi = lo + 60_000 - 1;
  else if (frac === undefined) hi = lo + 999;
  else {
    const digits = Math.min(frac.length, 3);
    const ms = Number(frac.slice(0, 3).padEnd(3, '0'));
    const width = 10 ** (3 - digits);
    return { lo: lo + ms, hi: lo + ms + width - 1 };
  }
  return { lo, hi };
}

function startOfDay(year: number, month: number): number {
  const ms = Date.UTC(year, month - 1, 1);
  return year < 100 ? shiftYear(ms, year) : ms;
}

function shiftYear(ms: number, year: number): number {
  const d = new Date(ms);
  d.setUTCFullYear(year);
  return d.getTime();
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * A decimal with the range its written precision implies (`1.5` -> [1.45,
 * 1.55), `100` -> [99.5, 100.5)), as the spec's implicit-range rule wants.
 */
export function numberRange(text: string): { n: number; lo: number; hi: number } | undefined {
  if (!/^[+-]?(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) return undefined;
  const mantissa = text.replace(/^[+-]/, '').split(/[eE]/)[0]!;
  const exponent = /[eE]([+-]?\d+)$/.exec(text)?.[1];
  const decimals = (mantissa.split('.')[1]?.length ?? 0) - (exponent ? Number(exponent) : 0);
  const half = 0.5 * 10 ** -decimals;
  return { n, lo: n - half, hi: n + half };
}

/**
 * The implicit range of a number read from JSON: its shortest decimal form
 * gives the precision it was written with (72.5 -> [72.45, 72.55)).
 */
export function numberValueRange(n: number): { n: number; lo: number; hi: number } {
  const text = String(n);
  if (text.includes('e')) return numberRange(text) ?? { n, lo: n, hi: n };
  const dot = text.indexOf('.');
  const half = dot < 0 ? 0.5 : 0.5 * 10 ** -(text.length - dot - 1);
  return { n, lo: n - half, hi: n + half };
}
