import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ValidateFunction } from 'ajv';
import { BadRequestError, FhirError, ForbiddenError } from '../errors.js';
import { catalogueScopeProblems, publicEntry } from '../auth/catalogue.js';
import { redirectUriProblems } from '../auth/redirect-uris.js';
import type { CatalogueEntry, CatalogueStatus } from '../auth/catalogue.js';
import { hashPassword } from '../auth/oauth/accounts.js';
import { parseScopes } from '../auth/scopes.js';
import { checkScopeRestrictions } from '../auth/scope-restrictions.js';
import { authenticate } from '../plugins/auth.js';
import { principalOf } from '../access/guard.js';
import { compileOwnSchema, describeSchemaErrors } from '../json-schema.js';

const registrationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'redirectUris', 'scope'],
  properties: {
    clientId: { type: 'string', pattern: '^[A-Za-z0-9._~-]{3,100}$' },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string', maxLength: 4000 },
    logoUrl: { type: 'string', pattern: '^https://', maxLength: 2000 },
    redirectUris: { type: 'array', minItems: 1, maxItems: 20, items: { type: 'string', pattern: '^[a-zA-Z][a-zA-Z0-9+.-]*:', maxLength: 2000 } },
    public: { type: 'boolean' },
    jwks: { type: 'object', required: ['keys'], properties: { keys: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'object', required: ['kty'] } } } },
    jwksUri: { type: 'string', pattern: '^https://', maxLength: 2000 },
    scope: { type: 'string', minLength: 1, maxLength: 4000 },
  },
} as const;

interface Registration {
  clientId?: string;
  name: string;
  description?: string;
  logoUrl?: string;
  redirectUris: string[];
  public?: boolean;
  jwks?: CatalogueEntry['jwks'];
  jwksUri?: string;
  scope: string;
}

let compiled: ValidateFunction<Registration> | undefined;
/** Compiled on first registration, not at start-up. */
function validateRegistration(body: unknown): body is Registration {
  compiled ??= compileOwnSchema<Registration>(registrationSchema);
  return compiled(body) === true;
}

/**
 * The catalogue of referenced apps. `GET /catalogue` is public (JSON); the
 * administrator API under `/admin/apps` needs a token of an `admin` client
 * (client_credentials): register an app, reference it, withdraw it. A withdrawn
 * app's tokens stop working at once (the bearer check reads the catalogue),
 * and for good: referencing it again revives none of them (auth/catalogue.ts).
 */
export const catalogueRoutes: FastifyPluginAsync = async (app) => {
  const auth = app.carnetAuth;

  app.get('/catalogue', async (_request, reply) => {
    const referenced = (await auth.catalogue.list()).filter((e) => e.status === 'referenced');
    const entries = [...auth.clients.fileApps(), ...referenced].map(publicEntry);
    return reply.header('cache-control', 'no-cache').send({ apps: entries });
  });

  await app.register(async (admin) => {
    admin.addHook('onRequest', authenticate);
    admin.addHook('preHandler', async (request: FastifyRequest) => {
      const principal = principalOf(request);
      if (principal.kind !== 'admin') throw new ForbiddenError('Only administrator clients manage the catalogue', 'catalogue-admin');
    });

    admin.get('/', async () => ({ apps: await auth.catalogue.list() }));

    admin.get<{ Params: { id: string } }>('/:id', async (request) => {
      const entry = await auth.catalogue.get(request.params.id);
      if (!entry) throw unknownApp(request.params.id);
      return entry;
    });

    admin.post('/', async (request, reply) => {
      const body = request.body as Registration;
      if (!validateRegistration(body)) {
        const problems = describeSchemaErrors(compiled?.errors).join('; ');
        throw new BadRequestError('FHIR_ERR_CATALOGUE_REGISTRATION', `Invalid registration: ${problems}`);
      }
      // The server sends browsers there with codes: https, loopback http, or a native app's own scheme (auth/redirect-uris.ts).
      const uriProblems = redirectUriProblems(body.redirectUris);
      if (uriProblems.length > 0) throw new BadRequestError('FHIR_ERR_CATALOGUE_REGISTRATION', `Invalid registration: ${uriProblems.join('; ')}`);
      let scopeProblems: string[];
      try {
        // A restriction the policy cannot enforce would make every token of the app a 401.
        checkScopeRestrictions(parseScopes(body.scope).resources);
        // Only what an authorization could ever give a catalogue app (auth/catalogue.ts).
        scopeProblems = catalogueScopeProblems(body.scope, body.public === true);
      } catch (err) {
        throw new BadRequestError('FHIR_ERR_CATALOGUE_REGISTRATION', `Invalid scope: ${(err as Error).message}`);
      }
      if (scopeProblems.length > 0) throw new BadRequestError('FHIR_ERR_CATALOGUE_REGISTRATION', `Invalid scope: ${scopeProblems.join('; ')}`);
      if (body.jwks && body.jwksUri) {
        throw new BadRequestError('FHIR_ERR_CATALOGUE_REGISTRATION', 'Give either jwks or jwksUri, not both');
      }
      const clientId = body.clientId ?? `app-${randomBytes(9).toString('base64url')}`;
      if (await auth.clients.isUsable(clientId) || (await auth.catalogue.get(clientId))) {
        throw new FhirError('FHIR_ERR_CATALOGUE_DUPLICATE', 409, 'duplicate', `Client id ${clientId} is already registered`);
      }
      // Confidential apps without keys get a secret (client_secret_basic), shown once.
      const secret = !body.public && !body.jwks && !body.jwksUri ? randomBytes(24).toString('base64url') : undefined;
      const entry = await auth.catalogue.register({
        clientId, name: body.name, description: body.description, logoUrl: body.logoUrl, redirectUris: body.redirectUris, scope: body.scope,
        tokenEndpointAuthMethod: body.public ? 'none' : secret ? 'client_secret_basic' : 'private_key_jwt',
        ...(body.jwks ? { jwks: body.jwks } : {}), ...(body.jwksUri ? { jwksUri: body.jwksUri } : {}),
        ...(secret ? { clientSecretHash: await hashPassword(secret) } : {}),
      });
      if (!entry) throw new FhirError('FHIR_ERR_CATALOGUE_DUPLICATE', 409, 'duplicate', `Client id ${clientId} is already registered`);
      return reply.code(201).header('location', `${app.config.publicUrl}/admin/apps/${clientId}`).send({ ...withoutSecret(entry), ...(secret ? { clientSecret: secret } : {}) });
    });

    for (const [action, status] of [['reference', 'referenced'], ['withdraw', 'withdrawn']] as Array<[string, CatalogueStatus]>) {
      admin.post<{ Params: { id: string } }>(`/:id/${action}`, async (request) => {
        const entry = await auth.catalogue.setStatus(request.params.id, status);
        if (!entry) throw unknownApp(request.params.id);
        auth.clients.forgetKeys(entry.clientId);
        return withoutSecret(entry);
      });
    }
  }, { prefix: '/admin/apps' });
};

function unknownApp(id: string): FhirError {
  return new FhirError('FHIR_ERR_CATALOGUE_UNKNOWN', 404, 'not-found', `No app ${id.slice(0, 100)} in the catalogue`);
}

function withoutSecret(entry: CatalogueEntry): Omit<CatalogueEntry, 'clientSecretHash'> {
  const { clientSecretHash: _hash, ...rest } = entry;
  return rest;
}
