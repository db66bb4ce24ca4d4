import Negotiator from 'negotiator';
import { NotAcceptableError } from '../errors.js';

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

/** Accept header -> the type chosen ('' when none fits). */
const negotiated = new Map<string, string>();

/**
 * Picks the response media type from `_format` (which wins, as the spec says)
 * or `Accept`. Throws 406 when the client accepts nothing we produce.
 */
export function negotiateFhirType(accept: string | undefined, format: string | undefined): string {
  if (format !== undefined) {
    // `_format=application/fhir+json` written without escaping its `+` arrives as a space (as HAPI, we take it).
    const wanted = FORMAT_ALIASES[format.split(';')[0].trim().toLowerCase().replace(/^application\/fhir (json|xml)$/, 'application/fhir+$1')];
    if (wanted && PRODUCIBLE.includes(wanted)) return `${wanted}; charset=utf-8`;
    throw new NotAcceptableError(`_format ${format.slice(0, 80)} is not supported: this server produces application/fhir+json`);
  }
  if (!accept || accept.trim() === '') return FHIR_JSON;
  // Clients send the same few Accept headers again and again.
  let chosen = negotiated.get(accept);
  if (chosen === undefined) {
    chosen = new Negotiator({ headers: { accept: withoutParameters(accept) } }).mediaType(PRODUCIBLE) ?? '';
    if (negotiated.size >= 1000) negotiated.clear();
    negotiated.set(accept, chosen);
  }
  if (!chosen) throw new NotAcceptableError(`Accept ${accept.slice(0, 120)} cannot be satisfied: this server produces application/fhir+json`);
  return `${chosen}; charset=utf-8`;
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
  return accept.split(',').map((range) => {
    const [type, ...params] = range.split(';');
    const q = params.map((p) => p.trim()).find((p) => /^q=/i.test(p));
    return q ? `${type.trim()};${q}` : type.trim();
  }).join(',');
}
