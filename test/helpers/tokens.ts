import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey } from 'jose';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { RegisteredClient } from '../../src/auth/clients.js';
import { JWT_BEARER_ASSERTION_TYPE } from '../../src/auth/client-assertion.js';
import { loadConfig } from '../../src/config.js';
import { authenticate, authPlugin } from '../../src/plugins/auth.js';
import { authRoutes } from '../../src/routes/auth.js';
import type { StoreEngine } from '../../src/store/engine.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';

/**
 * Test clients are registered like real ones (a clients file with their public
 * JWKS) and get real tokens from `/auth/token`: there is no bypass anywhere.
 */
export interface TestClient {
  clientId: string;
  alg: 'ES384' | 'RS384';
  kid: string;
  privateKey: CryptoKey;
  registration: RegisteredClient;
}

export interface TestClientOptions {
  clientId?: string;
  scope?: string;
  kind?: RegisteredClient['kind'];
  alg?: 'ES384' | 'RS384';
}

export async function createTestClient(options: TestClientOptions = {}): Promise<TestClient> {
  const alg = options.alg ?? 'ES384';
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  const clientId = options.clientId ?? `test-${kid.slice(0, 8)}`;
  return {
    clientId,
    alg,
    kid,
    privateKey,
    registration: {
      clientId,
      name: `Test client ${clientId}`,
      kind: options.kind ?? 'system',
      scope: options.scope ?? 'system/*.cruds',
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg }] },
    },
  };
}

/** A temp directory removed at teardown. */
export async function tempDir(t: { teardown: (fn: () => unknown) => void }, prefix = 'carnet-auth-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes the clients file the server reads (config.clientsFile). */
export async function writeClientsFile(dir: string, clients: Array<TestClient | RegisteredClient>): Promise<string> {
  const file = path.join(dir, 'clients.json');
  await writeFile(file, JSON.stringify(clients.map((c) => ('registration' in c ? c.registration : c)), null, 2));
  return file;
}

export interface AssertionOverrides {
  iss?: string;
  sub?: string;
  aud?: string;
  /** Epoch seconds; default now + 60. */
  exp?: number;
  /** null leaves the claim out. */
  jti?: string | null;
  kid?: string;
  /** Sign with another key than the registered one. */
  key?: CryptoKey;
}

/** A client assertion as SMART Backend Services describes it, with any claim overridable. */
export async function signClientAssertion(client: TestClient, tokenUrl: string, o: AssertionOverrides = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: client.alg, kid: o.kid ?? client.kid, typ: 'JWT' })
    .setIssuer(o.iss ?? client.clientId)
    .setSubject(o.sub ?? client.clientId)
    .setAudience(o.aud ?? tokenUrl)
    .setIssuedAt(now)
    .setExpirationTime(o.exp ?? now + 60);
  if (o.jti !== null) jwt.setJti(o.jti ?? randomUUID());
  return jwt.sign(o.key ?? client.privateKey);
}

/** POSTs a form to /auth/token through inject. */
export function postTokenForm(app: FastifyInstance, form: Record<string, string>): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/auth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(form).toString(),
  });
}

/** Runs the client_credentials grant for `client`; the raw response, for negative tests. */
export async function requestToken(
  app: FastifyInstance,
  client: TestClient,
  scope: string,
  overrides: AssertionOverrides = {},
): Promise<LightMyRequestResponse> {
  const tokenUrl = `${app.config.publicUrl}/auth/token`;
  return postTokenForm(app, {
    grant_type: 'client_credentials',
    client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
    client_assertion: await signClientAssertion(client, tokenUrl, overrides),
    scope,
  });
}

/** A real access token for `client` with `scope`; throws when the server refuses. */
export async function getAccessToken(app: FastifyInstance, client: TestClient, scope: string): Promise<string> {
  const res = await requestToken(app, client, scope);
  if (res.statusCode !== 200) throw new Error(`token request failed: ${res.statusCode} ${res.body}`);
  return (res.json() as { access_token: string }).access_token;
}

/** The Authorization header value for `client` with `scope`. */
export async function bearer(app: FastifyInstance, client: TestClient, scope: string): Promise<string> {
  return `Bearer ${await getAccessToken(app, client, scope)}`;
}

/**
 * Minimal app for the auth tests: config + the real embedded engine (temp dir),
 * the auth plugin, the auth routes and a protected route echoing the principal.
 * Pass `engine` to share one store between two apps (two replicas).
 */
export interface AuthTestApp {
  app: FastifyInstance;
  dataDir: string;
  engine: StoreEngine;
}

export interface AuthTestAppOptions {
  clients?: Array<TestClient | RegisteredClient>;
  /** null: no clients file (development client); a path: that file. */
  clientsFile?: string | null;
  now?: () => number;
  engine?: StoreEngine;
  dataDir?: string;
  publicUrl?: string;
}

export async function buildAuthTestApp(t: { teardown: (fn: () => unknown) => void }, options: AuthTestAppOptions = {}): Promise<AuthTestApp> {
  const dataDir = options.dataDir ?? (await tempDir(t));
  let clientsFile: string | undefined;
  if (options.clientsFile !== null) clientsFile = options.clientsFile ?? (await writeClientsFile(dataDir, options.clients ?? []));
  const config = loadConfig({}, { dataDir, publicUrl: options.publicUrl ?? 'http://carnet.test', logLevel: 'silent', ...(clientsFile ? { clientsFile } : {}) });
  let engine = options.engine;
  if (!engine) {
    engine = createEmbeddedEngine({ dataDir: path.join(dataDir, 'store'), now: options.now });
    await engine.open();
    const opened = engine;
    t.teardown(() => opened.close());
  }
  const app = Fastify({ logger: false });
  app.decorate('config', config);
  app.decorate('engine', engine);
  t.teardown(() => app.close());
  await app.register(authPlugin, { now: options.now });
  await app.register(authRoutes);
  await app.register(async (fhir) => {
    fhir.addHook('onRequest', authenticate);
    fhir.get('/whoami', async (request) => ({ ...request.principal, scopes: request.principal?.scopes.map((s) => s.raw) }));
  }, { prefix: '/fhir' });
  await app.ready();
  return { app, dataDir, engine };
}
