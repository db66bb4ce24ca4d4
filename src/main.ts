import { freePort } from './free-port.js';
import { loadConfig } from './config.js';
import { buildServer } from './server.js';

/** Reads the environment, builds the server, listens; closes cleanly on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config = loadConfig();
  // PORT=0 (tests, tools): pick the free port first, because token audiences and
  // absolute URLs need the real one before the server is built.
  if (config.port === 0 && !process.env.PUBLIC_URL) config = loadConfig(process.env, { port: await freePort(config.host) });
  const app = await buildServer({ config });
  // A clean stop: answers under way are finished (within a grace period), every connection is
  // closed, then the store (journal flushed, LOCK released): plugins/graceful-close.ts. The
  // handlers are `once`: the same signal sent again ends the process at once, as a kill would
  // (acknowledged writes are on disk already; the next start replaces the stale LOCK).
  let closing: Promise<void> | undefined;
  const shutdown = (signal: string): void => {
    closing ??= (async () => {
      app.log.info({ signal }, 'carnet shutting down');
      try {
        await app.close();
      } catch (err) {
        app.log.error({ err }, 'carnet did not close cleanly');
        process.exit(1);
      }
      app.log.info('carnet stopped');
      process.exit(0);
    })();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  app.log.info({ url, fhirBase: config.fhirBase, store: app.engine.kind }, 'carnet listening');
}


main().catch((err: unknown) => {
  // Start-up failures (bad configuration, data directory in use) are explained, not dumped.
  console.error(`carnet failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
