import type { FastifyPluginAsync } from 'fastify';
import { openidConfiguration, smartConfiguration } from '../auth/oauth/discovery.js';

/**
 * Discovery documents, for the public `/fhir` scope (no token needed):
 * `GET /fhir/.well-known/smart-configuration` (SMART App Launch 2.2) and
 * `GET /fhir/.well-known/openid-configuration`. The issuer's own
 * `/.well-known/openid-configuration` is served by routes/auth.ts at the root.
 */
export const wellKnownRoutes: FastifyPluginAsync = async (app) => {
  app.get('/.well-known/smart-configuration', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600');
    return smartConfiguration(app.config);
  });
  app.get('/.well-known/openid-configuration', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600');
    return openidConfiguration(app.config);
  });
};
