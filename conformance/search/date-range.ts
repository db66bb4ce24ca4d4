/** FHIR dates as the half-open range of instants they cover, for search comparisons. */

export interface Range {
  lo: number;
  hi: number; // exclusive
}

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The range a FHIR date, dateTime or instant covers at its precision.
 * Values without a time zone are read as UTC: the kit cannot know the
 * server's zone, and it compares ranges, which tolerates that for day precision.
 */
export function dateRange(value: string): Range | undefined {
  const m = DATE.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const offsetMs = tz && tz !== 'Z' ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60_000 : 0;
  if (mo === undefined) return { lo: Date.UTC(year, 0, 1), hi: Date.UTC(year + 1, 0, 1) };
  const month = Number(mo) - 1;
  if (d === undefined) return { lo: Date.UTC(year, month, 1), hi: Date.UTC(year, month + 1, 1) };
  const day = Number(d);
  if (h === undefined) return { lo: Date.UTC(year, month, day), hi: Date.UTC(year, month, day + 1) };
  const base = Date.UTC(year, month, day, Number(h), Number(mi)) - offsetMs;
  if (s === undefined) return { lo: base, hi: base + 60_000 };
  const secs = base + Number(s) * 1000;
  if (frac === undefined) return { lo: secs, hi: secs + 1000 };
  const ms = Number(`0.${frac}`) * 1000;
  const step = Math.max(1, 10 ** (3 - frac.length));
  return { lo: secs + Math.floor(ms), hi: secs + Math.floor(ms) + step };
}

/** The range of an element a date parameter looks at: a date string or a Period. */
export function elementRange(value: unknown): Range | undefined {
  if (typeof value === 'string') return dateRange(value);
  if (value && typeof value === 'object') {
    const p = value as { start?: string; end?: string };
    if (p.start === undefined && p.end === undefined) return undefined;
    const lo = p.start ? dateRange(p.start)?.lo : Number.NEGATIVE_INFINITY;
    const hi = p.end ? dateRange(p.end)?.hi : Number.POSITIVE_INFINITY;
    if (lo === undefined || hi === undefined) return undefined;
    return { lo, hi };
  }
  return undefined;
}

export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

/** R4 search.html#prefix for ranges: compares the resource's range with the parameter's range. */
export function compareRanges(prefix: Prefix, value: Range, query: Range): boolean {
  switch (prefix) {
    case 'eq':
      return value.lo >= query.lo && value.hi <= query.hi;
    case 'ne':
      return !(value.lo >= query.lo && value.hi <= query.hi);
    case 'gt':
      return value.hi > query.hi;
    case 'lt':
      return value.lo < query.lo;
    case 'ge':
      return value.hi > query.lo;
    case 'le':
      return value.lo < query.hi;
    case 'sa':
      return value.lo >= query.hi;
    case 'eb':
      return value.hi <= query.lo;
    case 'ap': {
      // "approximately": the spec leaves the margin to the server; accept any overlap widened by 10%.
      const margin = (query.hi - query.lo) * 0.1 + 1;
      return value.hi > query.lo - margin && value.lo < query.hi + margin;
    }
  }
}
