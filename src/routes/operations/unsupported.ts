import type { FastifyPluginAsync, FastifyRequest, HTTPMethods } from 'fastify';
import { FhirError, MethodNotAllowedError } from '../../errors.js';

type Level = 'system' | 'type' | 'instance';

interface OfferedOperation {
  /** The methods its routes take (Allow). */
  methods: string[];
  /** Where it is offered, as a client would write the request. */
  where: string;
  offeredAt(level: Level, type: string | undefined): boolean;
}

/**
 * The operations this server implements, each routed by its own module
 * (operations/validate.ts, routes/subscriptions.ts). Their static routes win
 * over the ones below; the list is here to tell a client that asks at the wrong
 * level or with the wrong method where they are. Keep it equal to the routes
 * (and to the CapabilityStatement, routes/metadata.ts).
 */
const OFFERED: Readonly<Record<string, OfferedOperation>> = {
  validate: {
    methods: ['POST'],
    where: 'POST [base]/[type]/$validate or POST [base]/[type]/[id]/$validate',
    offeredAt: (level) => level !== 'system',
  },
  deliveries: {
    methods: ['GET', 'HEAD'],
    where: 'GET [base]/Subscription/[id]/$deliveries',
    offeredAt: (level, type) => level === 'instance' && type === 'Subscription',
  },
};

const METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Every other `$name` (operations.html), at the system, type and instance
 * levels: a 404 `not-supported` saying the server does not implement it,
 * rather than `$everything` taken for a resource type or an id. 404 because
 * the URL names an endpoint this server does not have (as for a compartment
 * other than Patient, routes/search.ts); 501 is for methods a server does not
 * recognise, and a 400 would blame a request that is well-formed. Registered
 * behind the bearer-token hook, like the operations themselves.
 */
export const unsupportedOperationRoutes: FastifyPluginAsync = async (app) => {
  const refuse = (level: Level, fixedType?: string) => async (request: FastifyRequest): Promise<never> => {
    const params = request.params as { operation: string; type?: string };
    const type = fixedType ?? params.type;
    const name = `$${params.operation.slice(0, 64)}`;
    const offered = Object.hasOwn(OFFERED, params.operation) ? OFFERED[params.operation] : undefined;
    if (offered?.offeredAt(level, type)) {
      throw new MethodNotAllowedError(`${name} takes ${offered.methods.filter((m) => m !== 'HEAD').join(' or ')}`, offered.methods);
    }
    if (offered) {
      const here = level === 'system' ? 'at the system level' : level === 'type' ? `on the type ${type?.slice(0, 64)}` : `on a ${type?.slice(0, 64)} instance`;
      throw new FhirError('FHIR_ERR_HTTP_NO_ROUTE', 404, 'not-supported', `${name} is not offered ${here}; it is ${offered.where}`);
    }
    throw new FhirError('FHIR_ERR_HTTP_NO_ROUTE', 404, 'not-supported',
      `The operation ${name} is not supported by this server (its CapabilityStatement, [base]/metadata, lists the operations it offers)`);
  };
  app.route({ method: METHODS, url: '/$:operation', handler: refuse('system') });
  app.route({ method: METHODS, url: '/:type/$:operation', handler: refuse('type') });
  // Binary and Subscription have `/[type]/:id` routes of their own, which the router would prefer to `/:type/$:operation`.
  for (const type of ['Binary', 'Subscription']) app.route({ method: METHODS, url: `/${type}/$:operation`, handler: refuse('type', type) });
  app.route({ method: METHODS, url: '/:type/:id/$:operation', handler: refuse('instance') });
};
