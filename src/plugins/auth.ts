import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../errors.js';
import { createAuthServer } from '../auth/auth-server.js';
import { isAppConsentActive, recordAppConsent } from '../space/app-consents.js';
import type { AuthServer } from '../auth/auth-server.js';
import type { Principal } from '../auth/principal.js';
import type { SignInLimits } from '../auth/oauth/sign-in-limiter.js';
import './types.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The authorization server's shared state (keys, clients, token signer). */
    carnetAuth: AuthServer;
  }
  interface FastifyRequest {
    /** The verified caller; set by `authenticate`, null on public routes. */
    principal: Principal | null;
  }
}

export interface AuthPluginOptions {
  /** Clock for token issue and checks (tests); Date.now by default. */
  now?: () => number;
  /** Failed sign-in limits (defaults: 5 per account, 20 per address, per 15 minutes). */
  signInLimits?: SignInLimits;
}

/**
 * Sets up the authorization server state on the root instance and decorates
 * `request.principal`. Needs `app.config` and `app.engine` (decorated by
 * buildServer first). Keys are created or loaded from the engine's kv as soon
 * as the plugin is registered when the engine is open, else on first use.
 */
async function carnetAuth(app: FastifyInstance, options: AuthPluginOptions): Promise<void> {
  if (!app.hasDecorator('config') || !app.hasDecorator('engine')) {
    throw new Error('carnet-auth needs app.config and app.engine to be decorated first');
  }
  const now = options.now ?? Date.now;
  // When the whole server is built, approving an app is recorded as a Consent in the patient's space.
  const appConsents = app.hasDecorator('repository') ? {
    record: async (input: { patient: string; clientId: string; clientName: string; scope: string; performer?: string }) => {
      await recordAppConsent(app.repository, { ...input, now: now() });
    },
    isActive: (patient: string, clientId: string) => isAppConsentActive(app.repository, patient, clientId, now(), app.config.fhirBase),
  } : undefined;
  const auth = await createAuthServer({ config: app.config, kv: app.engine.kv, log: app.log, now: options.now, signInLimits: options.signInLimits, appConsents });
  app.decorate('carnetAuth', auth);
  app.decorateRequest('principal', null);
  // The keys load (on a first start, a 2048-bit RSA key is generated: 0.2-0.3 s, in libuv's
  // thread pool) while the server starts, without delaying it: whatever needs a key (a token
  // issued or verified, the JWKS) waits for them, and a failure here is tried again there.
  const keysLoaded = app.engine.isReady()
    .then((ready) => (ready ? auth.keys.init() : undefined))
    .catch((err: unknown) => app.log.warn({ err }, 'signing keys not loaded at start-up; tried again on first use'));
  // A server closed before its keys were stored must not write them into a closed store.
  app.addHook('onClose', async () => {
    await keysLoaded;
  });
}

export const authPlugin = fp(carnetAuth, { name: 'carnet-auth', fastify: '5.x' });

/** RFC 6750 §3.1: a request without credentials gets a challenge with no error code. */
class MissingTokenError extends UnauthorizedError {
  override readonly headers = { 'www-authenticate': 'Bearer realm="carnet"' };
}

/**
 * The token of an `Authorization: Bearer <token>` header (scheme
 * case-insensitive, spaces around the token allowed), or undefined. Its
 * characters are checked by AccessTokens.verify, only for a token it has not
 * verified before.
 */
export function bearerToken(header: string): string | undefined {
  if (header.length < 8 || header.charCodeAt(6) !== 32 || header.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  let start = 7;
  let end = header.length;
  while (start < end && header.charCodeAt(start) === 32) start++;
  while (end > start && header.charCodeAt(end - 1) === 32) end--;
  return start < end ? header.slice(start, end) : undefined;
}

/**
 * `authenticate` without waiting, for the common case of a file client's
 * token verified before (AccessTokens.knownPrincipal): sets
 * `request.principal` and returns true. False in every other case, failures
 * included: `authenticate` then checks everything and says what is wrong.
 */
export function authenticateKnown(request: FastifyRequest): boolean {
  const header = request.headers.authorization;
  const token = header === undefined ? undefined : bearerToken(header);
  if (token === undefined) return false;
  const { accessTokens, clients } = request.server.carnetAuth;
  const principal = accessTokens.knownPrincipal(token);
  if (!principal || !clients.isFileClient(principal.clientId)) return false;
  request.principal = principal;
  return true;
}

/**
 * onRequest hook of the protected scope: requires a valid access token of this
 * server and sets `request.principal`. Every failure is a 401 UnauthorizedError
 * (with WWW-Authenticate); no token detail reaches the client beyond our text.
 */
export async function authenticate(request: FastifyRequest): Promise<void> {
  const header = request.headers.authorization;
  if (header === undefined || header.trim() === '') throw new MissingTokenError('A bearer token is required');
  const token = bearerToken(header);
  if (token === undefined) throw new UnauthorizedError('The Authorization header must be "Bearer <token>"', 'invalid_request');
  const { accessTokens, clients } = request.server.carnetAuth;
  const principal = await accessTokens.verify(token);
  // A withdrawn catalogue app's tokens stop working at once, on every replica.
  if (!(await clients.isUsable(principal.clientId))) throw new UnauthorizedError('This app has been withdrawn from the catalogue');
  request.principal = principal;
}
