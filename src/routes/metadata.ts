import type { FastifyPluginAsync } from 'fastify';
import { capabilityStatementText } from '../fhir/capability.js';
import { responseType } from './respond.js';
import { VERSION } from '../version.js';


/**
 * `GET /fhir/metadata`: public, as the spec requires; built on first request
 * (around the per-type part the build prepared), then served as the same
 * bytes: a megabyte that clients fetch often.
 */
export const metadataRoutes: FastifyPluginAsync = async (app) => {
  let body: Buffer | undefined;
  app.get('/metadata', async (request, reply) => {
    const type = responseType(request);
    body ??= Buffer.from(capabilityStatementText({
      fhirBase: app.config.fhirBase,
      publicUrl: app.config.publicUrl,
      software: { name: 'carnet', version: VERSION },
      oauth: {
        authorize: `${app.config.publicUrl}/auth/authorize`,
        token: `${app.config.publicUrl}/auth/token`,
        introspect: `${app.config.publicUrl}/auth/introspect`,
        revoke: `${app.config.publicUrl}/auth/revoke`,
      },
      operations: [{ name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' }],
    }));
    return reply.type(type).header('cache-control', 'no-cache').send(body);
  });
};
