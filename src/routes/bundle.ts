import type { FastifyPluginAsync } from 'fastify';
import type { BundleEntry, Resource } from '@medplum/fhirtypes';
import { authorize } from '../access/guard.js';
import { processBundle } from '../store/bundle-processor.js';
import { parsePrefer, responseType } from './respond.js';
import { writeCheck } from './resource.js';
import { prepareProvideBundle } from '../space/documents/provide-route.js';
import { applyWriteRules } from '../space/documents/document-hook.js';

/**
 * `POST [base]` with a batch or transaction Bundle. The logic lives in
 * store/bundle-processor.ts; this route gives it the caller's policy and
 * answers GET entries by replaying them through the server itself (same
 * authentication, same policy, same audit as a direct request).
 */
export const bundleRoutes: FastifyPluginAsync = async (app) => {
  const { repository, config } = app;
  app.post('/', async (request, reply) => {
    const type = responseType(request);
    // ITI-65 checks and document replacement (space/documents) before anything is prepared.
    const { body, added } = await prepareProvideBundle(request.body, app.engine, config.fhirBase);
    const result = await processBundle(repository, body, {
      fhirBase: config.fhirBase,
      maxEntries: config.bundleMaxEntries,
      binaryMaxBytes: config.binaryMaxBytes,
      returnPreference: parsePrefer(request.headers.prefer).return,
      authorize: (action, interaction, target, precheck) => authorize(request, action, interaction, target, { precheck }),
      writeCheck: (action, interaction) => writeCheck(request, action, interaction),
      writeRules: (type, write) => applyWriteRules(request, type, write),
      read: async (url): Promise<BundleEntry> => {
        const res = await app.inject({ method: 'GET', url: `/fhir/${url.replace(/^\//, '')}`, headers: { authorization: request.headers.authorization ?? '', accept: 'application/fhir+json' } });
        const body = res.body ? (JSON.parse(res.body) as Resource) : undefined;
        const ok = res.statusCode < 300;
        return {
          ...(ok && body ? { resource: body } : {}),
          response: {
            status: String(res.statusCode),
            ...(res.headers.etag ? { etag: String(res.headers.etag) } : {}),
            ...(!ok && body?.resourceType === 'OperationOutcome' ? { outcome: body } : {}),
          },
        };
      },
    });
    if (added) result.entry = result.entry?.slice(0, result.entry.length - added);
    return reply.code(200).type(type).send(result);
  });
};
