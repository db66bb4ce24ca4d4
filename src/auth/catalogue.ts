import type { JSONWebKeySet } from 'jose';
import type { KeyValueStore } from '../store/engine.js';
import type { RegisteredClient } from './clients.js';
import { parseScopes } from './scopes.js';

/** Where an app stands in the state's catalogue of referenced services. */
export type CatalogueStatus = 'registered' | 'referenced' | 'withdrawn';

export interface CatalogueEntry extends RegisteredClient {
  kind: 'app';
  description?: string;
  logoUrl?: string;
  status: CatalogueStatus;
  registeredAt: string;
  updatedAt: string;
  /**
   * When the app was last withdrawn (ISO 8601, to the millisecond). Kept when
   * it is referenced again: what was authorised before it stays ended, and
   * each person authorises the app anew.
   */
  withdrawnAt?: string;
}

/** What the public catalogue shows of a referenced app. */
export interface PublicCatalogueEntry {
  clientId: string;
  name: string;
  description?: string;
  logoUrl?: string;
  scope: string;
  public: boolean;
}

const NS = 'catalogue';

/**
 * The catalogue of apps registered by administrators, kept in the shared
 * key-value store so that every replica sees a registration or a withdrawal
 * at once. Only referenced apps can obtain tokens; a withdrawn app's tokens
 * stop working on their next use (the bearer check asks here), and for good:
 * a token (access or refresh) or code of an authorization given before the
 * last withdrawal is refused even once the app is referenced again
 * (`honoursGrant`).
 */
export class Catalogue {
  constructor(private readonly kv: KeyValueStore, private readonly now: () => number = Date.now) {}

  async register(client: Omit<CatalogueEntry, 'status' | 'registeredAt' | 'updatedAt' | 'kind'>): Promise<CatalogueEntry | undefined> {
    const at = new Date(this.now()).toISOString();
    const entry: CatalogueEntry = { ...client, kind: 'app', status: 'registered', registeredAt: at, updatedAt: at };
    return (await this.kv.putIfAbsent(NS, client.clientId, entry)) ? entry : undefined;
  }

  get(clientId: string): Promise<CatalogueEntry | undefined> {
    return this.kv.get<CatalogueEntry>(NS, clientId);
  }

  async list(): Promise<CatalogueEntry[]> {
    return (await this.kv.list<CatalogueEntry>(NS)).map((e) => e.value).sort((a, b) => a.name.localeCompare(b.name));
  }

  async setStatus(clientId: string, status: CatalogueStatus): Promise<CatalogueEntry | undefined> {
    const entry = await this.get(clientId);
    if (!entry) return undefined;
    const at = new Date(this.now()).toISOString();
    const updated: CatalogueEntry = { ...entry, status, updatedAt: at, ...(status === 'withdrawn' ? { withdrawnAt: at } : {}) };
    await this.kv.put(NS, clientId, updated);
    return updated;
  }
}

/**
 * Whether the catalogue still honours what was authorised at `grantedAt`
 * (epoch ms): the app is referenced, and was not withdrawn since.
 */
export function honoursGrant(entry: CatalogueEntry | undefined, grantedAt: number): boolean {
  if (entry?.status !== 'referenced') return false;
  return entry.withdrawnAt === undefined || grantedAt > Date.parse(entry.withdrawnAt);
}

/**
 * Why a catalogue app may not be registered with `scope`, one problem per
 * scope: it may hold only what an authorization could ever give it. A
 * catalogue app acts for a patient who consents (patient/ scopes, `launch`,
 * `launch/patient`, `openid`, `fhirUser`, `offline_access`, `online_access`);
 * professionals get `openid fhirUser` from it, never `user/` scopes (their
 * practice software has its own registration in CLIENTS_FILE), and no app
 * gets `system/` scopes, which are for Backend Services (client_credentials,
 * which a public client, having no credentials, could not use at all).
 * Throws InvalidScopeError for a malformed scope.
 */
export function catalogueScopeProblems(scope: string, isPublic: boolean): string[] {
  const parsed = parseScopes(scope);
  const problems: string[] = [];
  for (const s of parsed.resources) {
    if (s.context === 'system') {
      problems.push(isPublic
        ? `${s.raw}: a public client cannot have system/ scopes (it has no credentials for Backend Services)`
        : `${s.raw}: system/ scopes are for Backend Services clients, registered in CLIENTS_FILE, not for catalogue apps`);
    } else if (s.context === 'user') {
      problems.push(`${s.raw}: a catalogue app acts for a patient who consents; user/ scopes are never granted to it`);
    }
  }
  for (const s of parsed.ignored) problems.push(`${s}: not a scope this server grants`);
  if (parsed.resources.length === 0 && parsed.special.size === 0 && problems.length === 0) problems.push('no scope at all');
  return problems;
}

export function publicEntry(client: RegisteredClient & { description?: string; logoUrl?: string }): PublicCatalogueEntry {
  return {
    clientId: client.clientId, name: client.name, scope: client.scope,
    ...(client.description ? { description: client.description } : {}),
    ...(client.logoUrl ? { logoUrl: client.logoUrl } : {}),
    public: (client.tokenEndpointAuthMethod ?? 'private_key_jwt') === 'none',
  };
}

export type { JSONWebKeySet };
