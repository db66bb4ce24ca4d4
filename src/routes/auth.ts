import formbody from '@fastify/formbody';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { FhirError } from '../errors.js';
import { OAuthError } from '../auth/oauth-error.js';
import { authorizationCodeGrant } from '../auth/oauth/authorization-code-grant.js';
import { authenticateClient } from '../auth/oauth/client-auth.js';
import { clientCredentialsGrant } from '../auth/oauth/client-credentials.js';
import { openidConfiguration } from '../auth/oauth/discovery.js';
import { introspect, revoke } from '../auth/oauth/introspection.js';
import { refreshTokenGrant } from '../auth/oauth/refresh-token-grant.js';
import type { TokenForm } from '../auth/oauth/token-types.js';
import type { ConsentStanding } from '../auth/oauth/token-standing.js';
import { consentStoodSince } from '../access/app-consent-standing.js';
import { authorizeRoutes } from './auth-authorize.js';

const FORM = 'application/x-www-form-urlencoded';
const TOKEN_PARAMS: ReadonlySet<string> = new Set<keyof TokenForm>([
  'grant_type', 'scope', 'client_id', 'client_assertion_type', 'client_assertion', 'code', 'redirect_uri', 'code_verifier',
  'refresh_token', 'token', 'token_type_hint',
]);

/**
 * The OAuth endpoints, registered at the root after the carnet-auth plugin:
 * `POST /auth/token`, `POST /auth/introspect`, `POST /auth/revoke`,
 * `GET /auth/jwks`, `GET /.well-known/openid-configuration`, and the
 * authorization pages under `/auth/authorize` (routes/auth-authorize.ts).
 * Errors here are OAuth JSON, not OperationOutcome: this scope has its own error handler.
 */
export const authRoutes: FastifyPluginAsync = async (app) => {
  if (!app.hasDecorator('carnetAuth')) throw new Error('authRoutes needs the carnet-auth plugin (plugins/auth.ts) registered first');
  if (!app.hasContentTypeParser(FORM)) await app.register(formbody);
  app.setErrorHandler(sendOAuthError);
  const auth = app.carnetAuth;
  // Whether an app's Consent stood without a break since its authorization, read in the store as the
  // access policy reads it (access/guard.ts): the token endpoint and introspection then agree with the API.
  const standing: ConsentStanding | undefined = app.hasDecorator('engine')
    ? (patient, clientId, since) => consentStoodSince(app.engine, `Patient/${patient}`, clientId, since, auth.now(), app.config.fhirBase)
    : undefined;

  app.post('/auth/token', async (request, reply) => {
    noStore(reply);
    const form = readTokenForm(request);
    switch (form.grant_type) {
      case undefined:
        throw new OAuthError('invalid_request', 'grant_type is required');
      case 'client_credentials':
        return clientCredentialsGrant(form, auth, request.headers.authorization);
      case 'authorization_code':
        return authorizationCodeGrant(request, form, auth, auth.refreshTokens, standing);
      case 'refresh_token':
        return refreshTokenGrant(request, form, auth, auth.refreshTokens, standing);
      default:
        throw new OAuthError('unsupported_grant_type', 'grant_type must be client_credentials, authorization_code or refresh_token');
    }
  });

  app.post('/auth/introspect', async (request, reply) => {
    noStore(reply);
    const form = readTokenForm(request);
    const { client } = await authenticateClient(request, form, auth, { allowPublic: false });
    if (!form.token) throw new OAuthError('invalid_request', 'token is required');
    return introspect(form.token, form.token_type_hint, client, auth, standing);
  });

  app.post('/auth/revoke', async (request, reply) => {
    noStore(reply);
    const form = readTokenForm(request);
    const { client } = await authenticateClient(request, form, auth, { allowPublic: true });
    if (!form.token) throw new OAuthError('invalid_request', 'token is required');
    await revoke(form.token, form.token_type_hint, client, auth);
    return reply.code(200).send();
  });

  // The other methods on these endpoints: 405 with Allow (RFC 9110 §15.5.6), not a bare 404.
  for (const url of ['/auth/token', '/auth/introspect', '/auth/revoke']) {
    app.route({
      method: ['GET', 'PUT', 'PATCH', 'DELETE'], url,
      handler: async (_request, reply) => {
        noStore(reply);
        return reply.code(405).header('allow', 'POST').send({ error: 'invalid_request', error_description: `${url} takes POST only` });
      },
    });
  }

  app.get('/auth/jwks', async (_request, reply) => {
    // Short caching: clients refetch soon after a key rotation.
    reply.header('cache-control', 'public, max-age=300');
    return auth.keys.publicJwks();
  });

  app.get('/.well-known/openid-configuration', async () => openidConfiguration(auth.config));

  await app.register(authorizeRoutes);
};

/** The form, each parameter a single string (RFC 6749 §3.2: no repeats). */
export function readTokenForm(request: FastifyRequest): TokenForm {
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== FORM) throw new OAuthError('invalid_request', `The request body must be ${FORM}`);
  const body = (request.body ?? {}) as Record<string, unknown>;
  const form: Record<string, string> = {};
  for (const [name, value] of Object.entries(body)) {
    if (!TOKEN_PARAMS.has(name)) continue;
    if (typeof value !== 'string') throw new OAuthError('invalid_request', `${name} must be given once`);
    if (value !== '') form[name] = value;
  }
  return form as TokenForm;
}

function noStore(reply: FastifyReply): void {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

/** Answers every failure of the OAuth endpoints as RFC 6749 §5.2 JSON; never a stack trace. */
export function sendOAuthError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  noStore(reply);
  if (err instanceof OAuthError) {
    if (err.statusCode === 401) {
      request.log.info({ err: err.cause ?? err }, 'OAuth client authentication failed');
      // RFC 6749 §5.2: answer a failed Basic authentication with a Basic challenge.
      if (/^Basic\b/i.test(request.headers.authorization ?? '')) reply.header('www-authenticate', 'Basic realm="carnet"');
    }
    return reply.code(err.statusCode).send(err.toOAuthJson());
  }
  const status = err instanceof FhirError ? err.statusCode : (err as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const description = err instanceof FhirError ? err.message : 'The request could not be read';
    return reply.code(status).send({ error: 'invalid_request', error_description: description });
  }
  request.log.error({ err }, 'OAuth endpoint failed');
  if (status === 503) {
    // RFC 6749 §4.1.2.1's temporarily_unavailable, as a status a client may retry after.
    if (err instanceof FhirError && err.headers) reply.headers(err.headers);
    return reply.code(503).send({ error: 'temporarily_unavailable', error_description: err.message });
  }
  return reply.code(500).send({ error: 'server_error', error_description: 'Internal server error' });
}
