import assert from 'node:assert';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { FhirError } from '../errors.js';

/** Told to requests refused while closing: a restarted server (or another replica) answers within seconds. */
const RETRY_AFTER_SECONDS = '5';
/** How often connections that went idle while closing are looked for. */
const IDLE_SWEEP_MS = 50;

export interface GracefulCloseOptions {
  /** How long answers under way when the server closes may take before their connections are cut (SHUTDOWN_GRACE_SECONDS). */
  graceMs: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** True from the moment the server starts closing: requests arriving then are refused (shuttingDownError). */
    readonly draining: boolean;
  }
}

/**
 * A prompt, clean close (SIGTERM: main.ts). Node's `server.close()` closes
 * only the keep-alive connections idle at that instant: a connection busy
 * then stayed open after its answer until the 72 s keep-alive timeout, and so
 * did the process, holding the data directory's LOCK. Once the server starts
 * closing:
 * - answers under way, not yet begun, say `Connection: close`, and Node
 *   closes their connection once they are sent (Fastify does the same for
 *   requests routed after that point, which the root hook refuses: 503
 *   `FHIR_ERR_HTTP_SHUTTING_DOWN`, server.ts);
 * - a connection that goes idle anyway (an answer already being sent) is
 *   closed within IDLE_SWEEP_MS;
 * - after the grace period every connection left (a stalled upload, a
 *   websocket whose peer does not answer the close) is destroyed.
 * Then Fastify's close ends and the onClose hooks close the store (the
 * journal flushed, LOCK released).
 */
export const gracefulClose = fp<GracefulCloseOptions>(async (app: FastifyInstance, options) => {
  const { graceMs } = options;
  assert(Number.isFinite(graceMs) && graceMs >= 0, 'gracefulClose: graceMs must be a number of milliseconds >= 0');
  const server = app.server;
  // Tracked per connection, not per request: nothing is added to a request's path.
  const sockets = new Set<Socket>();
  let draining = false;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  app.decorate('draining', { getter: () => draining });

  app.addHook('preClose', (done) => {
    draining = true;
    if (!server.listening) return done();
    for (const socket of sockets) {
      // The answer a connection is busy with: Node's `_httpMessage`, not documented but long stable
      // (http-terminator relies on it too). Were it gone, the sweep below would still close the
      // connection once idle, only without telling the client first.
      const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (response && !response.headersSent) response.setHeader('connection', 'close');
    }
    const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS).unref();
    const cut = setTimeout(() => {
      app.log.warn({ connections: sockets.size, graceMs }, 'connections still open at the end of the grace period: closed');
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
    }, graceMs).unref();
    server.once('close', () => {
      clearInterval(sweep);
      clearTimeout(cut);
    });
    done();
  });
}, { name: 'carnet-graceful-close', fastify: '5.x' });

/** The answer to a request that arrives while the server closes. */
export function shuttingDownError(): FhirError {
  return new FhirError('FHIR_ERR_HTTP_SHUTTING_DOWN', 503, 'transient', 'The server is shutting down; try again in a moment', {
    headers: { 'retry-after': RETRY_AFTER_SECONDS, connection: 'close' },
  });
}
