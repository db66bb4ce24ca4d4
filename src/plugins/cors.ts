import fp from 'fastify-plugin';
import cors from '@fastify/cors';

/**
 * CORS for browser apps (a referenced booking or teleconsultation web app, a
 * SMART app with PKCE in the page): every FHIR and OAuth answer may be read
 * from the origins of `CORS_ORIGINS` (any, by default). Credentials are never
 * allowed: the API takes bearer tokens, which a page sends only on purpose,
 * never cookies a browser would add on its own, so no origin can act for a
 * person without holding their token.
 */
export const corsPlugin = fp<{ origins: readonly string[] }>(async (app, options) => {
  await app.register(cors, {
    origin: options.origins.includes('*') ? '*' : [...options.origins],
    credentials: false,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    // What a FHIR client reads from an answer (versions, where a resource was created, paging by date).
    exposedHeaders: ['ETag', 'Location', 'Content-Location', 'Last-Modified', 'X-Request-Id', 'Retry-After', 'WWW-Authenticate'],
    // Preflights are cached by the browser for ten minutes: one per app and path, not one per request.
    maxAge: 600,
    // Any OPTIONS is answered as a preflight (204), not with a plain-text 400 when a header is missing: never a non-FHIR error body.
    strictPreflight: false,
  });
}, { name: 'carnet-cors' });
