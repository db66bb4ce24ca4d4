import type { Catalogue } from './catalogue.js';
import { honoursGrant } from './catalogue.js';
import { createLocalJWKSet, createRemoteJWKSet, exportJWK, generateKeyPair } from 'jose';
import type { JSONWebKeySet, JWK, JWTVerifyGetKey } from 'jose';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseScopes } from './scopes.js';
import { checkScopeRestrictions } from './scope-restrictions.js';
import { redirectUriProblems } from './redirect-uris.js';
import { compileOwnSchema, describeSchemaErrors } from '../json-schema.js';

/**
 * A registered OAuth client. The clients file (config.clientsFile) is a JSON
 * array of these:
 *
 * ```json
 * [{
 *   "clientId": "lab-system",             // unique, [A-Za-z0-9._~-], at most 100 chars
 *   "name": "Laboratoire Exemple",         // shown on the consent page
 *   "kind": "system",                      // "system" | "admin" (backend services) or "app" (user-facing)
 *   "scope": "system/*.cruds",             // the most this client may ever be granted
 *   "jwks": { "keys": [ ...public JWKs ] }, // or "jwksUri": "https://.../jwks.json" (private_key_jwt)
 *   "tokenEndpointAuthMethod": "private_key_jwt", // or "client_secret_basic" or "none" (public app)
 *   "clientSecretHash": "$argon2id$...",   // client_secret_basic only (argon2id PHC string)
 *   "redirectUris": ["https://app.example/callback"], // "app" clients: exact-match redirect URIs
 *   "resourceServer": true                 // optional: an API that accepts this server's tokens, and may introspect any of them
 * }]
 * ```
 * `tokenEndpointAuthMethod` defaults to private_key_jwt. Redirect URIs follow
 * the rules of redirect-uris.ts (https, loopback http, a native app's own
 * reverse-domain scheme; no fragment).
 */
export interface RegisteredClient {
  clientId: string;
  name: string;
  kind: 'system' | 'admin' | 'app';
  scope: string;
  jwks?: JSONWebKeySet;
  jwksUri?: string;
  tokenEndpointAuthMethod?: 'private_key_jwt' | 'client_secret_basic' | 'none';
  clientSecretHash?: string;
  redirectUris?: string[];
  /**
   * A resource server (another API protected by this server's tokens): it may
   * introspect any token (RFC 7662 §2.1), other clients only those issued to
   * them. Set in CLIENTS_FILE only, and only for a client that authenticates.
   */
  resourceServer?: boolean;
}

export const DEV_CLIENT_ID = 'carnet-dev';
export const DEV_CLIENT_SCOPE = 'system/*.cruds';
/** File name, in the data directory, of the development client's private key. */
export const DEV_CLIENT_FILE = 'dev-client.json';
/** Signature algorithms accepted on client assertions (SMART Backend Services). */
export const CLIENT_ASSERTION_ALGS = ['RS384', 'ES384'] as const;

/** What `<dataDir>/dev-client.json` holds: enough for scripts/token.ts to sign an assertion. */
export interface DevClientFile {
  clientId: string;
  scope: string;
  alg: 'ES384';
  /** Private JWK with kid and alg. */
  privateJwk: JWK;
}

const jwkSchema = { type: 'object', required: ['kty'], properties: { kty: { type: 'string' }, kid: { type: 'string' } } };
const clientsSchema = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['clientId', 'name', 'kind', 'scope'],
    properties: {
      clientId: { type: 'string', pattern: '^[A-Za-z0-9._~-]{1,100}$' },
      name: { type: 'string', minLength: 1 },
      kind: { enum: ['system', 'admin', 'app'] },
      scope: { type: 'string', minLength: 1 },
      jwks: { type: 'object', required: ['keys'], properties: { keys: { type: 'array', minItems: 1, items: jwkSchema } } },
      jwksUri: { type: 'string', pattern: '^https?://' },
      tokenEndpointAuthMethod: { enum: ['private_key_jwt', 'client_secret_basic', 'none'] },
      clientSecretHash: { type: 'string', pattern: '^\\$argon2id\\$' },
      redirectUris: { type: 'array', items: { type: 'string', pattern: '^[a-zA-Z][a-zA-Z0-9+.-]*:' } },
      resourceServer: { type: 'boolean' },
    },
  },
} as const;

/** The registered clients, looked up by id; keeps one key resolver per client. */
export class ClientRegistry {
  private readonly byId: Map<string, RegisteredClient>;
  private readonly resolvers = new Map<string, JWTVerifyGetKey>();

  constructor(clients: RegisteredClient[], private readonly catalogue?: Catalogue) {
    this.byId = new Map(clients.map((c) => [c.clientId, c]));
  }

  /**
   * A client that may obtain and use tokens now: one from the clients file, or
   * a catalogue app while it is referenced (registered-only and withdrawn apps
   * are unknown to OAuth).
   */
  async get(clientId: string): Promise<RegisteredClient | undefined> {
    const fromFile = this.byId.get(clientId);
    if (fromFile) return fromFile;
    const entry = await this.catalogue?.get(clientId);
    return entry?.status === 'referenced' ? entry : undefined;
  }

  /** Whether the client comes from the clients file: its tokens work as long as the server runs with that file. */
  isFileClient(clientId: string): boolean {
    return this.byId.has(clientId);
  }

  /** Whether tokens issued to this client still work (false once a catalogue app is withdrawn). */
  async isUsable(clientId: string): Promise<boolean> {
    return this.byId.has(clientId) || (await this.catalogue?.get(clientId))?.status === 'referenced';
  }

  /**
   * Whether a token or code of an authorization given at `grantedAt` (epoch
   * ms) may still be honoured: always for a file client; for a catalogue app,
   * while it is referenced and was not withdrawn since (catalogue.ts
   * honoursGrant): a withdrawal ends what was authorised before it for good.
   */
  async honours(clientId: string, grantedAt: number): Promise<boolean> {
    if (this.byId.has(clientId)) return true;
    return this.catalogue !== undefined && honoursGrant(await this.catalogue.get(clientId), grantedAt);
  }

  /** Apps from the clients file: they are part of the public catalogue, referenced by configuration. */
  fileApps(): RegisteredClient[] {
    return [...this.byId.values()].filter((c) => c.kind === 'app');
  }

  all(): RegisteredClient[] {
    return [...this.byId.values()];
  }

  /** Drops a cached key resolver (after an app's keys change in the catalogue). */
  forgetKeys(clientId: string): void {
    this.resolvers.delete(clientId);
  }

  /** The key resolver for the client's assertions; undefined when it has no keys. */
  keyResolver(client: RegisteredClient): JWTVerifyGetKey | undefined {
    let resolver = this.resolvers.get(client.clientId);
    if (!resolver) {
      if (client.jwks) resolver = createLocalJWKSet(client.jwks);
      else if (client.jwksUri) resolver = createRemoteJWKSet(new URL(client.jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
      else return undefined;
      this.resolvers.set(client.clientId, resolver);
    }
    return resolver;
  }
}

/** Checks a parsed clients document; throws one Error listing every problem. */
export function validateClients(document: unknown, source: string): RegisteredClient[] {
  const validate = compileOwnSchema<RegisteredClient[]>(clientsSchema);
  const problems: string[] = [];
  if (!validate(document)) {
    problems.push(...describeSchemaErrors(validate.errors));
  } else {
    const seen = new Set<string>();
    document.forEach((c, i) => {
      if (seen.has(c.clientId)) problems.push(`/${i}/clientId "${c.clientId}" is registered twice`);
      seen.add(c.clientId);
      const method = c.tokenEndpointAuthMethod ?? 'private_key_jwt';
      if (method === 'private_key_jwt' && !c.jwks === !c.jwksUri) problems.push(`/${i} needs exactly one of jwks or jwksUri`);
      if (method === 'client_secret_basic' && !c.clientSecretHash) problems.push(`/${i} uses client_secret_basic but has no clientSecretHash`);
      if (method === 'none' && c.kind !== 'app') problems.push(`/${i} a public client (tokenEndpointAuthMethod none) must be of kind app`);
      if (c.kind === 'app' && !c.redirectUris?.length) problems.push(`/${i} an app client needs redirectUris`);
      for (const problem of redirectUriProblems(c.redirectUris ?? [])) problems.push(`/${i}/redirectUris ${problem}`);
      if (c.resourceServer && method === 'none') problems.push(`/${i} a resource server must authenticate (it cannot be a public client)`);
      try {
        // A restriction the policy cannot enforce would make every token of the client a 401.
        checkScopeRestrictions(parseScopes(c.scope).resources);
      } catch (err) {
        problems.push(`/${i}/scope ${(err as Error).message}`);
      }
      for (const [k, jwk] of (c.jwks?.keys ?? []).entries()) {
        if ('d' in jwk || 'p' in jwk || 'k' in jwk) problems.push(`/${i}/jwks/keys/${k} holds private or secret key material`);
      }
    });
  }
  if (problems.length) throw new Error(`Invalid clients file ${source}: ${problems.join('; ')}`);
  return document as RegisteredClient[];
}

export async function loadClientsFile(file: string): Promise<RegisteredClient[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read clients file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    throw new Error(`Clients file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return validateClients(document, file);
}

/**
 * The local development client: created on first start (private key written to
 * `<dataDir>/dev-client.json`, mode 0600), reused afterwards. `created` tells the
 * caller to warn that this is a development set-up.
 */
export async function ensureDevClient(dataDir: string): Promise<{ client: RegisteredClient; file: string; created: boolean }> {
  const file = path.join(dataDir, DEV_CLIENT_FILE);
  let dev = await readDevClientFile(file);
  let created = false;
  if (!dev) {
    const { privateKey } = await generateKeyPair('ES384', { extractable: true });
    const kid = randomUUID();
    const fresh: DevClientFile = {
      clientId: DEV_CLIENT_ID,
      scope: DEV_CLIENT_SCOPE,
      alg: 'ES384',
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES384' },
    };
    await mkdir(dataDir, { recursive: true });
    try {
      // 'wx': two processes starting together must not overwrite each other's key.
      await writeFile(file, JSON.stringify(fresh, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
      dev = fresh;
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      dev = await readDevClientFile(file);
      if (!dev) throw new Error(`Development client file ${file} vanished while starting`);
    }
  }
  const { d: _d, ...publicJwk } = dev.privateJwk;
  return {
    client: { clientId: dev.clientId, name: 'Local development client', kind: 'system', scope: dev.scope, jwks: { keys: [publicJwk] } },
    file,
    created,
  };
}

export async function readDevClientFile(file: string): Promise<DevClientFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`Cannot read development client file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let dev: Partial<DevClientFile>;
  try {
    dev = JSON.parse(text) as Partial<DevClientFile>;
  } catch {
    throw new Error(`Development client file ${file} is not valid JSON; delete it to have a new one created`);
  }
  if (typeof dev.clientId !== 'string' || typeof dev.scope !== 'string' || typeof dev.privateJwk?.d !== 'string' || !dev.privateJwk.kid) {
    throw new Error(`Development client file ${file} is incomplete; delete it to have a new one created`);
  }
  return dev as DevClientFile;
}
