import type { IncomingHttpHeaders } from 'node:http';
import { FhirError } from '../errors.js';

/**
 * A 415 for a request body sent with a `Content-Encoding` (gzip, br...):
 * no body is decoded here, and an encoded Binary would otherwise be stored as
 * its compressed bytes and served back as if they were the document. RFC
 * 7694: 415 with `Accept-Encoding: identity`, so the client sends it again
 * unencoded. Undefined for a request without a body or without an encoding
 * (or `identity`).
 */
export function contentEncodingError(headers: IncomingHttpHeaders): FhirError | undefined {
  const encoding = headers['content-encoding'];
  if (encoding === undefined || /^\s*(?:identity\s*)?$/i.test(encoding)) return undefined;
  if (headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0')) return undefined;
  return new FhirError('FHIR_ERR_HTTP_MEDIA_TYPE', 415, 'not-supported',
    `Request bodies are read as sent: Content-Encoding ${encoding.slice(0, 40)} is not decoded. Send the body without it`,
    { headers: { 'accept-encoding': 'identity' } });
}
