import type { FastifyReply } from 'fastify';
import fp from 'fastify-plugin';

/** What a FHIR client reads from an answer (versions, where a resource was created, paging by date). */
const EXPOSED_HEADERS = 'ETag, Location, Content-Location, Last-Modified, X-Request-Id, Retry-After, WWW-Authenticate, Allow, Content-Range, Accept-Ranges';
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
/** Preflights are cached by the browser for ten minutes: one per app and path, not one per request. */
const PREFLIGHT_MAX_AGE = '600';

/**
 * The `Access-Control-Allow-Origin` a request's `Origin` gets under
 * `CORS_ORIGINS`: undefined when it gets no CORS headers (no Origin, or one
 * not listed).
 */
export function corsOriginPolicy(origins: readonly string[]): (origin: string | undefined) => string | undefined {
  const anyOrigin = origins.includes('*');
  const allowed = new Set(origins);
  return (origin) => (origin === undefined ? undefined : anyOrigin ? '*' : allowed.has(origin) ? origin : undefined);
}

/**
 * The CORS headers of an answer that is no preflight. Also written by what
 * answers before this plugin's hook runs (a URL Fastify cannot route:
 * fhir-errors.ts), so that a page can read every refusal.
 */
export function writeCorsHeaders(reply: FastifyReply, allowOrigin: string | undefined): void {
  reply.header('vary', 'Origin');
  if (allowOrigin === undefined) return;
  reply.header('access-control-allow-origin', allowOrigin);
  reply.header('access-control-expose-headers', EXPOSED_HEADERS);
}

/**
 * CORS for browser apps (a referenced booking or teleconsultation web app, a
 * SMART app with PKCE in the page): every FHIR and OAuth answer may be read
 * from the origins of `CORS_ORIGINS` (any, by default). Credentials are never
 * allowed: the API takes bearer tokens, which a page sends only on purpose,
 * never cookies a browser would add on its own, so no origin can act for a
 * person without holding their token.
 *
 * Only a request carrying `Origin` (what a browser sends cross-origin) gets
 * CORS headers: software calling the API from a server never reads them, and
 * writing them cost about 7% of a read's CPU. Every answer says
 * `Vary: Origin`, so that a cache never hands a page an answer made for a
 * request without one. @fastify/cors decides the same things, but always and
 * through per-request option objects; what is left is a few header writes.
 */
export const corsPlugin = fp<{ origins: readonly string[] }>(async (app, options) => {
  const allowOriginOf = corsOriginPolicy(options.origins);

  app.addHook('onRequest', (request, reply, done) => {
    const allowOrigin = allowOriginOf(request.headers.origin);
    if (request.raw.method === 'OPTIONS') {
      reply.header('vary', 'Origin');
      if (allowOrigin !== undefined) reply.header('access-control-allow-origin', allowOrigin);
      // Any OPTIONS is answered as a preflight (204) before authentication, whatever it lacks: never a non-FHIR error body.
      if (allowOrigin !== undefined) {
        reply.header('access-control-allow-methods', ALLOWED_METHODS);
        const asked = request.headers['access-control-request-headers'];
        if (asked !== undefined) reply.header('access-control-allow-headers', asked);
        reply.header('access-control-max-age', PREFLIGHT_MAX_AGE);
        reply.header('vary', 'Origin, Access-Control-Request-Headers');
      }
      reply.code(204).header('content-length', '0').send();
      return;
    }
    writeCorsHeaders(reply, allowOrigin);
    done();
  });

  // Routes OPTIONS on every path to the hook above (which answers first); without it Fastify would give a 404.
  app.options('*', async (_request, reply) => reply.code(204).send());
}, { name: 'carnet-cors' });
