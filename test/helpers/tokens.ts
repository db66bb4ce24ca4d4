import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey } from 'jose';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
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
import { wellKnownRoutes } from '../../src/routes/well-known.js';
import type { SignInLimits } from '../../src/auth/oauth/sign-in-limiter.js';
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
  signInLimits?: SignInLimits;
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
  await app.register(authPlugin, { now: options.now, signInLimits: options.signInLimits });
  await app.register(authRoutes);
  await app.register(async (fhir) => {
    fhir.addHook('onRequest', authenticate);
    fhir.get('/whoami', async (request) => ({ ...request.principal, scopes: request.principal?.scopes.map((s) => s.raw) }));
  }, { prefix: '/fhir' });
  await app.register(wellKnownRoutes, { prefix: '/fhir' });
  await app.ready();
  return { app, dataDir, engine };
}

/** A user-facing app registration (authorization code flow); public unless a secret hash is given. */
export function appClient(options: { clientId?: string; scope?: string; redirectUri?: string; clientSecretHash?: string; jwks?: RegisteredClient['jwks'] } = {}): RegisteredClient {
  const client: RegisteredClient = {
    clientId: options.clientId ?? 'test-app',
    name: 'Test <App>',
    kind: 'app',
    scope: options.scope ?? 'patient/*.cruds user/*.rs openid fhirUser launch/patient offline_access online_access',
    redirectUris: [options.redirectUri ?? 'https://app.test/callback'],
    tokenEndpointAuthMethod: options.clientSecretHash ? 'client_secret_basic' : options.jwks ? 'private_key_jwt' : 'none',
  };
  if (options.clientSecretHash) client.clientSecretHash = options.clientSecretHash;
  if (options.jwks) client.jwks = options.jwks;
  return client;
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface AuthorizeFlow {
  clientId: string;
  redirectUri?: string;
  scope: string;
  username: string;
  password: string;
  state?: string;
  nonce?: string;
  /** Scopes to untick on the consent page. */
  untick?: string[];
  patient?: string;
  decision?: 'approve' | 'deny';
  /** Extra or replaced authorize query parameters. */
  query?: Record<string, string>;
}

/** Field values of the hidden request_id in a page. */
export function requestIdOf(html: string): string {
  const match = /name="request_id" value="([^"]+)"/.exec(html);
  if (!match) throw new Error(`no request_id in page: ${html.slice(0, 300)}`);
  return match[1]!;
}

/** Every scope checkbox value of a consent page. */
export function offeredScopes(html: string): string[] {
  return [...html.matchAll(/name="scope" value="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'));
}

/**
 * Runs the person-facing flow through the real pages (authorize, sign-in,
 * consent) and returns the redirect to the app, parsed, with the PKCE verifier.
 */
export async function authorize(app: FastifyInstance, flow: AuthorizeFlow): Promise<{ location: URL; verifier: string; consentHtml: string }> {
  const { verifier, challenge } = pkcePair();
  const redirectUri = flow.redirectUri ?? 'https://app.test/callback';
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: flow.clientId,
    redirect_uri: redirectUri,
    scope: flow.scope,
    state: flow.state ?? 'st-' + randomUUID(),
    aud: app.config.fhirBase,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...(flow.nonce ? { nonce: flow.nonce } : {}),
    ...flow.query,
  });
  const start = await app.inject({ url: `/auth/authorize?${query}` });
  if (start.statusCode !== 200) throw new Error(`authorize failed: ${start.statusCode} ${start.headers.location ?? start.body.slice(0, 300)}`);
  const signIn = await app.inject({
    method: 'POST', url: '/auth/authorize/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ request_id: requestIdOf(start.body), username: flow.username, password: flow.password }).toString(),
  });
  if (signIn.statusCode !== 200) throw new Error(`sign-in failed: ${signIn.statusCode} ${signIn.headers.location ?? ''}`);
  const consent = new URLSearchParams({ request_id: requestIdOf(signIn.body), decision: flow.decision ?? 'approve' });
  for (const scope of offeredScopes(signIn.body)) if (!flow.untick?.includes(scope)) consent.append('scope', scope);
  if (flow.patient) consent.set('patient', flow.patient);
  const done = await app.inject({
    method: 'POST', url: '/auth/authorize/consent', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: consent.toString(),
  });
  if (done.statusCode !== 302) throw new Error(`consent failed: ${done.statusCode} ${done.body.slice(0, 300)}`);
  return { location: new URL(String(done.headers.location)), verifier, consentHtml: signIn.body };
}

/** Exchanges a code as a public client. */
export function exchangeCode(app: FastifyInstance, code: string, verifier: string | undefined, clientId = 'test-app', redirectUri = 'https://app.test/callback'): Promise<LightMyRequestResponse> {
  return postTokenForm(app, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: clientId, ...(verifier !== undefined ? { code_verifier: verifier } : {}) });
}
