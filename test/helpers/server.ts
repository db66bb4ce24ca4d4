import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import { buildServer } from '../../src/server.js';
import type { TestClient } from './tokens.js';
import { bearer, createTestClient, tempDir, writeClientsFile } from './tokens.js';

export interface TestServer {
  app: FastifyInstance;
  dataDir: string;
  client: TestClient;
  /** `Bearer <token>` for the test client with this scope, from the real token endpoint. */
  auth(scope?: string): Promise<string>;
}

type Tap = { teardown: (fn: () => unknown) => void };

/**
 * The whole server (buildServer) on the embedded engine in a temp directory,
 * with one registered system client allowed everything. Never listens: tests
 * use inject(); e2e tests call app.listen themselves.
 */
export async function buildTestServer(t: Tap, options: { config?: Partial<Config>; now?: () => number } = {}): Promise<TestServer> {
  const dataDir = await tempDir(t, 'carnet-http-');
  const client = await createTestClient({ scope: 'system/*.cruds' });
  const clientsFile = await writeClientsFile(dataDir, [client]);
  // Writes are analysed in the main thread unless a test asks for workers
  // (test/http/write-workers.test.ts); the child-process e2e tests run the default.
  const config = loadConfig({}, { dataDir, clientsFile, publicUrl: 'http://carnet.test', logLevel: 'silent', writeWorkers: 0, ...options.config });
  const app = await buildServer({ config, logger: false, now: options.now });
  t.teardown(() => app.close());
  await app.ready();
  const tokens = new Map<string, string>();
  return {
    app, dataDir, client,
    async auth(scope = 'system/*.cruds') {
      let header = tokens.get(scope);
      if (!header) tokens.set(scope, (header = await bearer(app, client, scope)));
      return header;
    },
  };
}
