import { Catalogue } from './catalogue.js';
import type { Config } from '../config.js';
import type { KeyValueStore } from '../store/engine.js';
import { AccessTokens } from './access-tokens.js';
import { ClientRegistry, ensureDevClient, loadClientsFile } from './clients.js';
import { ServerKeys } from './keys.js';
import { AccountStore } from './oauth/accounts.js';
import { RefreshTokens } from './oauth/refresh-tokens.js';
import { SignInLimiter, DEFAULT_SIGN_IN_LIMITS } from './oauth/sign-in-limiter.js';
import type { SignInLimits } from './oauth/sign-in-limiter.js';

/** Everything the token endpoint and the bearer check share, built once per server. */
export interface AuthServer {
  config: Readonly<Config>;
  kv: KeyValueStore;
  keys: ServerKeys;
  clients: ClientRegistry;
  catalogue: Catalogue;
  accessTokens: AccessTokens;
  refreshTokens: RefreshTokens;
  accounts: AccountStore;
  signInLimiter: SignInLimiter;
  /** `${publicUrl}/auth/token`: the audience of client assertions. */
  tokenUrl: string;
  now: () => number;
  /** The health space's record of app consents (Consent resources), when wired by the server. */
  appConsents?: AppConsents;
}

/** How approving an app becomes a Consent, and how its withdrawal is seen. */
export interface AppConsents {
  record(input: { patient: string; clientId: string; clientName: string; scope: string; performer?: string }): Promise<void>;
  isActive(patient: string, clientId: string): Promise<boolean>;
}

export interface AuthServerDeps {
  config: Readonly<Config>;
  kv: KeyValueStore;
  log: { warn: (msg: string) => void };
  now?: () => number;
  signInLimits?: SignInLimits;
  appConsents?: AppConsents;
}

/**
 * Loads the registered clients (or sets up the development client when no
 * clients file is configured). Signing keys are loaded from kv on first use, so
 * the store need not be open yet.
 */
export async function createAuthServer(deps: AuthServerDeps): Promise<AuthServer> {
  const { config, kv } = deps;
  const now = deps.now ?? Date.now;
  let clients: ClientRegistry;
  const catalogue = new Catalogue(kv, now);
  if (config.clientsFile) {
    clients = new ClientRegistry(await loadClientsFile(config.clientsFile), catalogue);
  } else {
    const dev = await ensureDevClient(config.dataDir);
    deps.log.warn(
      `No CLIENTS_FILE configured: development set-up with the single client "${dev.client.clientId}" ` +
        `(${dev.client.scope}), private key in ${dev.file}${dev.created ? ' (just created)' : ''}. Do not use this in production.`,
    );
    clients = new ClientRegistry([dev.client], catalogue);
  }
  const keys = new ServerKeys(kv, 60_000, now);
  // A catalogue app's tokens end with its withdrawal, and stay ended once it is referenced again.
  const accessTokens = new AccessTokens(config, keys, now, kv, (principal) => clients.honours(principal.clientId, principal.grantedAt ?? 0));
  return {
    config,
    kv,
    keys,
    clients,
    catalogue,
    accessTokens,
    refreshTokens: new RefreshTokens(kv, now, (jti, expiresAtMs) => accessTokens.revoke(jti, expiresAtMs)),
    accounts: new AccountStore(kv),
    signInLimiter: new SignInLimiter(kv, deps.signInLimits ?? DEFAULT_SIGN_IN_LIMITS, now),
    tokenUrl: `${config.publicUrl}/auth/token`,
    now,
    appConsents: deps.appConsents,
  };
}
