/**
 * Byte ranges of a raw Binary read (RFC 9110 §14): what `Range` and
 * `If-Range` ask for, read without I/O. The route (routes/binary.ts) decides
 * with them between 206, 416 and the whole body.
 *
 * One range only: a request for several (`bytes=0-1,5-6`) would need a
 * multipart/byteranges body, which a resumed download never asks for; such a
 * request, another unit and a malformed header are ignored, as RFC 9110 §14.2
 * allows, and answered with the whole representation.
 */

/** What a `Range: bytes=` header asks for, before the representation's size is known. */
export type RangeSpec =
  /** `bytes=first-last` or `bytes=first-` (int-range). */
  | { kind: 'from'; first: number; last?: number }
  /** `bytes=-length`: the last `length` bytes (suffix-range). */
  | { kind: 'suffix'; length: number };

/** Offsets of the first and last byte sent, both included. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * What a Range asks of a representation of `size` bytes: `whole` means
 * "ignore it, send everything" (200), `unsatisfiable` is a 416.
 */
export type RangeAnswer = ByteRange | 'unsatisfiable' | 'whole';

/** An entity-tag as sent in If-Range (RFC 9110 §8.8.3): `"x"` or `W/"x"`. */
export type IfRangeValidator =
  | { kind: 'etag'; weak: boolean; tag: string }
  /** An HTTP-date, kept as written: it must match Last-Modified exactly. */
  | { kind: 'date'; text: string }
  /** Neither: the condition is false. */
  | { kind: 'invalid' };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const INT_RANGE = /^(\d+)-(\d*)$/;
const SUFFIX_RANGE = /^-(\d+)$/;
/** opaque-tag = DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text. */
const ENTITY_TAG = /^(W\/)?("[\x21\x23-\x7e\x80-\xff]*")$/;
/** IMF-fixdate, the form our Last-Modified has (RFC 9110 §5.6.7). */
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * The one bytes range a `Range` header asks for (RFC 9110 §14.2); undefined
 * when there is none to honour: no header, another unit, several ranges, or a
 * header that is not `bytes=` followed by one valid range-spec (`bytes=5-2`
 * included). Empty list elements are skipped (§5.6.1): `bytes=0-1,` is one range.
 */
export function parseRange(header: string | undefined): RangeSpec | undefined {
  if (header === undefined) return undefined;
  const equals = header.indexOf('=');
  if (equals < 0) return undefined;
  const unit = header.slice(0, equals).trim();
  if (!TOKEN.test(unit) || unit.toLowerCase() !== 'bytes') return undefined;
  const specs = header.slice(equals + 1).split(',').map((part) => part.trim()).filter(Boolean);
  if (specs.length !== 1) return undefined;
  const spec = specs[0]!;
  const suffix = SUFFIX_RANGE.exec(spec);
  if (suffix) return { kind: 'suffix', length: Number(suffix[1]) };
  const from = INT_RANGE.exec(spec);
  if (!from) return undefined;
  const first = Number(from[1]);
  if (from[2] === '') return { kind: 'from', first };
  const last = Number(from[2]);
  // RFC 9110 §14.1.1: an int-range whose last-pos is before its first-pos is invalid.
  return last < first ? undefined : { kind: 'from', first, last };
}

/**
 * The bytes a range selects of `size` bytes (RFC 9110 §14.1.1): a last-pos
 * beyond the end stops at the last byte, a suffix longer than the
 * representation takes all of it. Unsatisfiable when the first byte is at or
 * beyond the end, or the suffix is empty (`bytes=-0`). An empty
 * representation has no byte to name: `bytes=-n` sends it whole (`whole`).
 */
export function resolveRange(spec: RangeSpec, size: number): RangeAnswer {
  if (spec.kind === 'suffix') {
    if (spec.length === 0) return 'unsatisfiable';
    if (size === 0) return 'whole';
    return { start: Math.max(0, size - spec.length), end: size - 1 };
  }
  if (spec.first >= size) return 'unsatisfiable';
  return { start: spec.first, end: Math.min(spec.last ?? size - 1, size - 1) };
}

/** `Content-Range` of a 206 (`bytes 0-99/1000`) or, without a range, of a 416 (`bytes *\/1000`). */
export function contentRange(size: number, range?: ByteRange): string {
  return range ? `bytes ${range.start}-${range.end}/${size}` : `bytes */${size}`;
}

/**
 * `If-Range` (RFC 9110 §13.1.5): an entity-tag when it starts like one, an
 * HTTP-date otherwise; undefined without the header. A date is only
 * recognised in the IMF-fixdate form: it has to match Last-Modified exactly,
 * and ours is written in that form.
 */
export function parseIfRange(header: string | undefined): IfRangeValidator | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  const tag = ENTITY_TAG.exec(text);
  if (tag) return { kind: 'etag', weak: tag[1] !== undefined, tag: tag[2]! };
  if (IMF_FIXDATE.test(text) && !Number.isNaN(Date.parse(text))) return { kind: 'date', text };
  return { kind: 'invalid' };
}

/**
 * Whether an If-Range validator matches the representation's own (§13.1.5):
 * an entity-tag by strong comparison (§8.8.3.2: neither tag weak, same
 * opaque-tag), so a weak ETag, sent or ours, never matches; a date when it is
 * exactly the `lastModified` text. Whether that date is a strong validator
 * (§8.8.2.2) is for the caller to know: it needs the history.
 */
export function ifRangeMatches(validator: IfRangeValidator, current: { etag: string; lastModified: string }): boolean {
  if (validator.kind === 'date') return validator.text === current.lastModified;
  if (validator.kind === 'invalid' || validator.weak) return false;
  const ours = ENTITY_TAG.exec(current.etag);
  return ours !== null && ours[1] === undefined && ours[2] === validator.tag;
}
