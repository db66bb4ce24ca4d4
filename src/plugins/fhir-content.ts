import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import formbody from '@fastify/formbody';

/**
 * Request bodies the FHIR API reads: FHIR JSON (both media types), JSON Patch,
 * and form bodies for POST _search. Fastify answers 415 for anything else.
 * JSON goes through Fastify's own parser, which refuses `__proto__` keys.
 */
export const fhirContent = fp(async (app: FastifyInstance) => {
  // Fastify reads text/plain by default; FHIR bodies never are, so it is a 415 like any other.
  app.removeContentTypeParser('text/plain');
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser(['application/fhir+json', 'application/json-patch+json'], { parseAs: 'string' }, parseJson);
  await app.register(formbody);
}, { name: 'carnet-fhir-content', fastify: '5.x' });
