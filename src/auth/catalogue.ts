import type { JSONWebKeySet } from 'jose';
import type { KeyValueStore } from '../store/engine.js';
import type { RegisteredClient } from './clients.js';

/** Where an app stands in the state's catalogue of referenced services. */
export type CatalogueStatus = 'registered' | 'referenced' | 'withdrawn';

export interface CatalogueEntry extends RegisteredClient {
  kind: 'app';
  description?: string;
  logoUrl?: string;
  status: CatalogueStatus;
  registeredAt: string;
  updatedAt: string;
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
 * stop working on their next use (the bearer check asks here).
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
    const updated = { ...entry, status, updatedAt: new Date(this.now()).toISOString() };
    await this.kv.put(NS, clientId, updated);
    return updated;
  }
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
