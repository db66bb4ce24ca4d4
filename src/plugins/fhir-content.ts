import { isUtf8 } from 'node:buffer';
import type { FastifyBodyParser, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import formbody from '@fastify/formbody';
import { BadRequestError } from '../errors.js';
import { checkJsonBody } from '../fhir/json-body.js';
import { prototypeKeyError } from '../fhir/json-refusals.js';
import { assertJsonContentType } from '../fhir/media-types.js';

/**
 * Request bodies the FHIR API reads: FHIR JSON (both media types), JSON Patch,
 * and form bodies for POST _search. Fastify answers 415 for anything else, and
 * so do we for a JSON type whose charset is not UTF-8 or whose fhirVersion is
 * not R4 (fhir/media-types.ts). JSON goes through Fastify's own parser, which
 * refuses `__proto__` keys (we say so: fhir/json-refusals.ts), then through
 * fhir/json-body.ts: a bound on its nesting, no key twice in an object, no
 * number that JSON.parse changed (Infinity, underflow to 0, integers past 2^53).
 */
export const fhirContent = fp(async (app: FastifyInstance) => {
  // Fastify reads text/plain by default; FHIR bodies never are, so it is a 415 like any other.
  app.removeContentTypeParser(['text/plain', 'application/json']);
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // Nesting is bounded before anything recursive walks the body (see json-depth.ts).
  const parseBoundedJson: FastifyBodyParser<Buffer> = (request, body, done) => {
    // Many clients send Content-Type on every request: a DELETE without a body has nothing to parse
    // (Fastify never parses a GET's; the CORS hook answers every OPTIONS before any parsing).
    if (body.length === 0 && request.method === 'DELETE') return done(null, undefined);
    try {
      assertJsonContentType(request.headers['content-type']);
    } catch (refusal) {
      return done(refusal as Error, undefined);
    }
    // FHIR JSON is UTF-8 (json.html): bytes that are not would be stored as U+FFFD, silently changed.
    if (!isUtf8(body)) return done(new BadRequestError('FHIR_ERR_HTTP_MALFORMED', 'The request body is not valid UTF-8'), undefined);
    const text = body.toString('utf8');
    return parseJson(request, text, (err, value) => {
      // Fastify calls a body with a prototype-poisoning key "not valid JSON": it is valid, and refused for that key.
      if (err) return done((err as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? prototypeKeyError(text) ?? err : err, undefined);
      try {
        checkJsonBody(text, value);
      } catch (refusal) {
        return done(refusal as Error, undefined);
      }
      return done(null, value);
    });
  };
  app.addContentTypeParser(['application/json', 'application/fhir+json', 'application/json-patch+json'], { parseAs: 'buffer' }, parseBoundedJson);
  await app.register(formbody);
}, { name: 'carnet-fhir-content', fastify: '5.x' });
