import type { FastifyInstance, FastifyPluginAsync, HTTPMethods } from 'fastify';
import { MethodNotAllowedError } from '../errors.js';

/**
 * The other methods on paths that define only some: a 405 whose Allow names
 * the ones they do (RFC 9110 §15.5.6), rather than the 404 or 400 of whatever
 * route the URL happens to look like (`DELETE /metadata` is not a conditional
 * delete of a type "metadata"). Registered in the scope of the paths they
 * answer for, so that a protected path still asks for a token first. Fastify
 * answers HEAD wherever it answers GET, so Allow names both. Instance paths and
 * versions have theirs beside their routes (routes/resource.ts), `$validate`
 * in routes/operations/validate.ts, the OAuth endpoints in routes/auth.ts.
 */

/** The methods the API uses (HEAD follows GET; OPTIONS is the CORS hook's, plugins/cors.ts). */
const METHODS: readonly HTTPMethods[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const READ_ONLY = ['GET', 'HEAD'];

/** Routes each of METHODS that `allow` leaves out to a 405 with `message`. */
function refuseOthers(app: FastifyInstance, urls: readonly string[], allow: readonly string[], message: string): void {
  const method = METHODS.filter((m) => !allow.includes(m));
  const handler = async (): Promise<never> => {
    throw new MethodNotAllowedError(message, [...allow]);
  };
  for (const url of urls) app.route({ method, url, handler });
}

/**
 * Types with routes of their own at `/[type]/:id` (routes/binary.ts,
 * routes/subscriptions.ts): the router prefers their static segment, so for
 * `/Binary/_history` their `:id` route would win over `/:type/_history`.
 */
const TYPES_WITH_OWN_ROUTES = ['Binary', 'Subscription'];

/** Within `/fhir`, public: the CapabilityStatement and the discovery documents. */
export const publicMethodNotAllowedRoutes: FastifyPluginAsync = async (app) => {
  refuseOthers(app, ['/metadata'], READ_ONLY, 'The CapabilityStatement is read with GET');
  refuseOthers(app, ['/.well-known/smart-configuration', '/.well-known/openid-configuration'], READ_ONLY, 'A discovery document is read with GET');
};

/** Within `/fhir`, behind the bearer-token hook: the base, history and `_search`. */
export const protectedMethodNotAllowedRoutes: FastifyPluginAsync = async (app) => {
  refuseOthers(app, ['/'], ['GET', 'HEAD', 'POST'], 'The base takes GET (a search of every type) and POST (a batch or transaction Bundle)');
  refuseOthers(app, ['/_history'], READ_ONLY, 'History is read with GET');
  refuseOthers(app, ['/:type/_history', ...TYPES_WITH_OWN_ROUTES.map((type) => `/${type}/_history`)], READ_ONLY, 'History is read with GET');
  refuseOthers(app, ['/:type/:id/_history'], READ_ONLY, 'History is read with GET');
  refuseOthers(app, ['/_search', '/:type/_search', ...TYPES_WITH_OWN_ROUTES.map((type) => `/${type}/_search`)], ['POST'],
    '_search takes a POST with the parameters as a form body; a search by GET is GET [base]/[type]?parameters');
};

/**
 * At the root, with the root's OperationOutcome errors: `/health` and the
 * issuer's discovery document (served by routes/auth.ts, but outside `/auth/`,
 * as `/fhir/.well-known/*` are).
 */
export const rootMethodNotAllowedRoutes: FastifyPluginAsync = async (app) => {
  refuseOthers(app, ['/health'], READ_ONLY, '/health is read with GET');
  refuseOthers(app, ['/.well-known/openid-configuration'], READ_ONLY, 'A discovery document is read with GET');
};

/**
 * `/auth/jwks`, answered as the OAuth server's other endpoints answer
 * (routes/auth.ts): an OAuth error body (RFC 6749 §5.2), not an OperationOutcome.
 */
export const oauthMethodNotAllowedRoutes: FastifyPluginAsync = async (app) => {
  app.route({
    method: METHODS.filter((m) => m !== 'GET'), url: '/auth/jwks',
    handler: async (_request, reply) => reply.code(405).header('allow', READ_ONLY.join(', ')).header('cache-control', 'no-store')
      .send({ error: 'invalid_request', error_description: '/auth/jwks is read with GET' }),
  });
};
