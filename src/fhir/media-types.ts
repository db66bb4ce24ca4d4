import Negotiator from 'negotiator';
import { NotAcceptableError, UnsupportedMediaTypeError } from '../errors.js';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';
export const JSON_PATCH = 'application/json-patch+json';

/** The JSON flavours we produce, in order of preference. */
const PRODUCIBLE = ['application/fhir+json', 'application/json'];

/** `_format` short forms (FHIR http.html#mime-type) and the media types they stand for. */
const FORMAT_ALIASES: Record<string, string> = {
  json: 'application/fhir+json',
  'application/json': 'application/json',
  'application/fhir+json': 'application/fhir+json',
  xml: 'application/fhir+xml',
  'text/xml': 'application/fhir+xml',
  'application/xml': 'application/fhir+xml',
  'application/fhir+xml': 'application/fhir+xml',
  ttl: 'text/turtle',
  html: 'text/html',
};

/**
 * The values of the `fhirVersion` media type parameter that name R4
 * (http.html#version-parameter: major.minor, `4.0`; versions.html: 4.0.0
 * and 4.0.1 are R4 too). A request naming another version is refused (the
 * spec: a server SHALL reject a fhirVersion it does not support): 415 on
 * Content-Type, 406 on Accept and `_format`.
 */
const R4_VERSIONS = new Set(['4.0', '4.0.0', '4.0.1']);

/** Accept header -> the answer's Content-Type, or the 406's text when none fits. */
const negotiated = new Map<string, string | { refusal: string }>();

/**
 * Picks the response media type from `_format` (which wins, as the spec says)
 * or `Accept`. Throws 406 when the client accepts nothing we produce, or
 * only FHIR versions other than R4.
 */
export function negotiateFhirType(accept: string | undefined, format: string | undefined): string {
  if (format !== undefined) {
    // `_format=application/fhir+json` written without escaping its `+` arrives as a space (as HAPI, we take it).
    const wanted = FORMAT_ALIASES[format.split(';')[0].trim().toLowerCase().replace(/^application\/fhir (json|xml)$/, 'application/fhir+$1')];
    if (wanted && PRODUCIBLE.includes(wanted)) {
      const version = fhirVersionOf(format);
      if (version !== undefined && !R4_VERSIONS.has(version)) {
        throw new NotAcceptableError(`_format ${format.slice(0, 80)} asks for FHIR version ${version.slice(0, 20)}: this server speaks FHIR R4 only (fhirVersion=4.0)`);
      }
      return `${wanted}; charset=utf-8`;
    }
    throw new NotAcceptableError(`_format ${format.slice(0, 80)} is not supported: this server produces application/fhir+json`);
  }
  if (!accept || accept.trim() === '') return FHIR_JSON;
  // Clients send the same few Accept headers again and again.
  let chosen = negotiated.get(accept);
  if (chosen === undefined) {
    chosen = negotiate(accept);
    if (negotiated.size >= 1000) negotiated.clear();
    negotiated.set(accept, chosen);
  }
  if (typeof chosen !== 'string') throw new NotAcceptableError(chosen.refusal);
  return chosen;
}

/**
 * Negotiates over the ranges we can satisfy: a range asking for another FHIR
 * version is left out (`application/fhir+json; fhirVersion=3.0,
 * application/fhir+json; fhirVersion=4.0` gets R4), and when only such
 * ranges would have matched, the 406 names the version.
 */
function negotiate(accept: string): string | { refusal: string } {
  const ranges = acceptRanges(accept);
  const served = ranges.filter((r) => r.fhirVersion === undefined || R4_VERSIONS.has(r.fhirVersion));
  const chosen = served.length > 0 ? new Negotiator({ headers: { accept: served.map((r) => r.range).join(',') } }).mediaType(PRODUCIBLE) : undefined;
  if (chosen) return `${chosen}; charset=utf-8`;
  const versions = [...new Set(ranges.filter((r) => !served.includes(r)).map((r) => r.fhirVersion!.slice(0, 20)))];
  if (versions.length > 0 && new Negotiator({ headers: { accept: withoutParameters(accept) } }).mediaType(PRODUCIBLE)) {
    return { refusal: `Accept ${accept.slice(0, 120)} asks for FHIR version ${versions.join(', ')}: this server speaks FHIR R4 only (fhirVersion=4.0)` };
  }
  return { refusal: `Accept ${accept.slice(0, 120)} cannot be satisfied: this server produces application/fhir+json` };
}

/** Content-Type headers already found acceptable by assertJsonContentType. */
const readableTypes = new Set<string>();

/**
 * Refuses (415) a JSON body whose Content-Type parameters say it is not
 * what we read: a `charset` other than UTF-8 (FHIR JSON is UTF-8; `utf8` is
 * taken too), or a `fhirVersion` other than R4. The media type itself was
 * matched by Fastify (fhir-content.ts) or the route (a Binary sent as FHIR
 * JSON). Costs a lookup for a type without parameters or already seen.
 */
export function assertJsonContentType(header: string | undefined): void {
  if (header === undefined || !header.includes(';') || readableTypes.has(header)) return;
  for (const [name, value] of parametersOf(header)) {
    if (name === 'charset' && !/^utf-?8$/i.test(value)) {
      throw new UnsupportedMediaTypeError(`Content-Type charset=${value.slice(0, 40)} is not supported: FHIR JSON is UTF-8 (send charset=utf-8, or no charset)`);
    }
    if (name === 'fhirversion' && !R4_VERSIONS.has(value)) {
      throw new UnsupportedMediaTypeError(`Content-Type fhirVersion=${value.slice(0, 20)} is not supported: this server reads FHIR R4 only (fhirVersion=4.0)`);
    }
  }
  if (readableTypes.size >= 1000) readableTypes.clear();
  readableTypes.add(header);
}

/** True when the client accepts this exact media type (Binary's raw bytes). */
export function accepts(accept: string | undefined, mediaType: string): boolean {
  if (!accept) return false;
  return new Negotiator({ headers: { accept: withoutParameters(accept) } }).mediaTypes([mediaType]).length > 0;
}

/**
 * Keeps only `q` of each media range: clients send `application/fhir+json;
 * fhirVersion=4.0` and negotiator would otherwise demand the same parameters.
 */
export function withoutParameters(accept: string): string {
  return acceptRanges(accept).map((r) => r.range).join(',');
}

/** Each range of an Accept header with its `q` only, and the fhirVersion it asks for. */
function acceptRanges(accept: string): Array<{ range: string; fhirVersion?: string }> {
  return accept.split(',').map((range) => {
    const [type, ...params] = range.split(';');
    const q = params.map((p) => p.trim()).find((p) => /^q=/i.test(p));
    const fhirVersion = fhirVersionOf(range);
    return { range: q ? `${type.trim()};${q}` : type.trim(), ...(fhirVersion !== undefined ? { fhirVersion } : {}) };
  });
}

function fhirVersionOf(mediaType: string): string | undefined {
  if (!/fhirversion/i.test(mediaType)) return undefined;
  return parametersOf(mediaType).find(([name]) => name === 'fhirversion')?.[1];
}

/** The parameters of a media type or range, names lower-cased, values unquoted: `text/plain; charset="utf-8"`. */
function parametersOf(mediaType: string): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  for (const part of mediaType.split(';').slice(1)) {
    const equals = part.indexOf('=');
    if (equals === -1) continue;
    const value = part.slice(equals + 1).trim();
    const unquoted = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
    found.push([part.slice(0, equals).trim().toLowerCase(), unquoted]);
  }
  return found;
}
