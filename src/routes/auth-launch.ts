import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { BadRequestError, ForbiddenError, ResourceNotFoundError } from '../errors.js';
import { LAUNCH_NS } from '../auth/oauth/authorization-requests.js';
import type { LaunchContext } from '../auth/oauth/authorization-requests.js';
import { authorize, principalOf } from '../access/guard.js';
import { authenticate } from '../plugins/auth.js';
import { isValidId } from '../fhir/resource-types.js';

const LAUNCH_SECONDS = 600;

/**
 * EHR launch (SMART App Launch): a professional's software, authenticated as a
 * system client, asks for a `launch` value bound to the patient it has open
 * (`POST /auth/launch` with `{ "patient": "<id>" }`), then opens the app with
 * `?launch=<value>&iss=<FHIR base>`. The value lives 10 minutes in the shared
 * store. What the professional then sees is decided by the access policy.
 */
export const launchRoutes: FastifyPluginAsync = async (app) => {
  app.post('/auth/launch', { onRequest: authenticate }, async (request, reply) => {
    const principal = principalOf(request);
    if (principal.kind !== 'system') throw new ForbiddenError('Only a professional\'s software (a system client) issues EHR launches', 'ehr-launch-issuer');
    const patient = (request.body as { patient?: unknown } | undefined)?.patient;
    if (typeof patient !== 'string' || !isValidId(patient.replace(/^Patient\//, ''))) {
      throw new BadRequestError('FHIR_ERR_AUTH_LAUNCH', 'The body must be {"patient": "<Patient id>"}');
    }
    const id = patient.replace(/^Patient\//, '');
    // Opening a patient's chart in an app is an access to their space: the client must be allowed to read
    // the Patient (judged before it is looked up, so the answer tells nothing to one that is not), which must exist.
    await authorize(request, 'r', 'read', { resourceType: 'Patient', id }, { precheck: true });
    const record = await app.engine.current('Patient', id);
    if (!record || record.deleted) throw new ResourceNotFoundError('Patient', id);
    await authorize(request, 'r', 'read', { resourceType: 'Patient', id, record });
    const launch = randomBytes(24).toString('base64url');
    const context: LaunchContext = { patient: id, issuedTo: principal.clientId };
    await app.engine.kv.put(LAUNCH_NS, launch, context, { expiresAt: app.now() + LAUNCH_SECONDS * 1000 });
    return reply.code(201).header('cache-control', 'no-store').send({ launch, expires_in: LAUNCH_SECONDS, iss: app.config.fhirBase });
  });
};
