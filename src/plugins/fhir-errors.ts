import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import fp from 'fastify-plugin';
import { errors as joseErrors } from 'jose';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { ERROR_CODE_SYSTEM, FhirError } from '../errors.js';
import { outcome } from '../fhir/outcome.js';
import { FHIR_JSON } from '../fhir/media-types.js';
import { corsOriginPolicy, writeCorsHeaders } from './cors.js';

/**
 * The one place where errors become OperationOutcomes. Domain code throws
 * FhirError; Fastify's own client errors (bad JSON, media type, size) keep
 * their 4xx; anything else is our bug: 500 with generic text, cause logged.
 */
export const fhirErrors = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const [status, body, headers] = toResponse(err);
    // A request refused while the server closes is expected, not a failure of ours; a store that
    // cannot write (a disk error, MongoDB without a majority) is the operator's to see, with its cause.
    if (status >= 500 && !(err instanceof FhirError)) request.log.error({ err }, 'unhandled error');
    else if (status >= 500 && err.code !== 'FHIR_ERR_HTTP_SHUTTING_DOWN') request.log.error({ err, code: err.code, status }, err.message);
    else request.log.info({ code: err instanceof FhirError ? err.code : err.code, status }, err.message);
    if (headers) reply.headers(headers);
    return reply.code(status).type(FHIR_JSON).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).type(FHIR_JSON).send(withCode(outcome('not-found', `No route for ${request.method} ${request.url.split('?')[0].slice(0, 200)}`), 'FHIR_ERR_HTTP_NO_ROUTE'));
  });
}, { name: 'carnet-fhir-errors', fastify: '5.x' });

/**
 * Fastify's `frameworkErrors`: what fails before routing (a URL whose
 * percent-encoding is broken) is answered as an OperationOutcome too, with
 * the CORS headers the hooks it skips would have written.
 */
export function frameworkErrorsFor(corsOrigins: readonly string[]): NonNullable<FastifyServerOptions['frameworkErrors']> {
  const allowOriginOf = corsOriginPolicy(corsOrigins);
  return (err, request, reply) => {
    request.log.info({ code: err.code, status: 400 }, err.message);
    const text = err.code === 'FST_ERR_BAD_URL' ? 'The request URL is not valid (broken percent-encoding)' : 'The request could not be routed';
    const answer = reply as unknown as FastifyReply;
    writeCorsHeaders(answer, allowOriginOf(request.headers.origin));
    void answer.code(400).type(FHIR_JSON).send(withCode(outcome('invalid', text), 'FHIR_ERR_HTTP_BAD_REQUEST'));
  };
}

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refuses (a
 * malformed header or request line, headers too large, a client too slow) is
 * answered before any route exists, as Fastify would (same statuses, the
 * connection closed), but with an OperationOutcome.
 */
export function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Duplex): void {
  // A reset connection is gone: nothing to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'The request was not received in time']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'The request headers are too large']
      : [400, 'The request is not valid HTTP'];
  this.log.trace({ err }, 'client error');
  if (socket.writable) {
    const body = JSON.stringify(withCode(outcome(status === 408 ? 'timeout' : status === 431 ? 'too-costly' : 'invalid', text), 'FHIR_ERR_HTTP_BAD_REQUEST'));
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: ${FHIR_JSON}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

function toResponse(err: FastifyError): [number, OperationOutcome, Record<string, string>?] {
  if (err instanceof FhirError) return [err.statusCode, err.toOperationOutcome(), err.headers];
  if (err instanceof joseErrors.JOSEError) {
    return [401, withCode(outcome('login', 'Invalid token'), 'FHIR_ERR_AUTH_TOKEN'), { 'www-authenticate': 'Bearer realm="carnet", error="invalid_token"' }];
  }
  if (err.validation) return [400, withCode(outcome('invalid', err.message), 'FHIR_ERR_HTTP_BAD_REQUEST')];
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return [status, withCode(outcome(issueCodeFor(status), clientMessage(err)), fastifyCode(err))];
  return [500, withCode(outcome('exception', 'Internal server error'), 'FHIR_ERR_SERVER_INTERNAL')];
}

function issueCodeFor(status: number): OperationOutcome['issue'][number]['code'] {
  if (status === 413) return 'too-costly';
  if (status === 415 || status === 406) return 'not-supported';
  if (status === 429) return 'throttled';
  return 'invalid';
}

/** Fastify's client-error messages are safe; we rephrase the common ones. */
function clientMessage(err: FastifyError): string {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return 'Unsupported Content-Type: send application/fhir+json';
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return 'Request body is too large';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY': return 'The request body is empty';
    case 'FST_ERR_CTP_INVALID_JSON_BODY': return 'The request body is not valid JSON';
    default: return err instanceof SyntaxError ? 'The request body is not valid JSON' : err.message;
  }
}

function fastifyCode(err: FastifyError): `FHIR_ERR_${string}` {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return 'FHIR_ERR_HTTP_MEDIA_TYPE';
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return 'FHIR_ERR_HTTP_TOO_LARGE';
    default: return err.statusCode === 400 ? 'FHIR_ERR_HTTP_MALFORMED' : 'FHIR_ERR_HTTP_BAD_REQUEST';
  }
}

function withCode(body: OperationOutcome, code: string): OperationOutcome {
  for (const issue of body.issue) issue.details = { coding: [{ system: ERROR_CODE_SYSTEM, code }] };
  return body;
}
