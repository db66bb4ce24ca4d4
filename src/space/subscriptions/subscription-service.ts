import type { FastifyBaseLogger } from 'fastify';
import type { Query } from 'mingo';
import { mingoQuery } from '../../store/lazy-mingo.js';
import type { Subscription } from '@medplum/fhirtypes';
import { partyKey, sameParty, type Principal } from '../../auth/principal.js';
import { parseScopes } from '../../auth/scopes.js';
import type { Filter, StoreEngine, VersionRecord } from '../../store/engine.js';
import type { Repository } from '../../store/repository.js';
import { withoutHiddenReferences } from '../../access/hidden-references.js';
import { compileCriteria } from './criteria.js';
import { ownerReads } from './owner-access.js';
import type { ClientUsable, OwnerReads } from './owner-access.js';
import type { WebsocketHub } from './websocket-hub.js';
import { request as httpRequest } from 'undici';
import type { Agent } from 'undici';
import { deliveryAgent, deliveryError, endpointProblem, EndpointRefusedError, parseChannelHeader } from './endpoint.js';

export interface SubscriptionOptions {
  /** Attempts per notification before giving up (the Subscription then turns to `error`). */
  maxAttempts: number;
  /** First retry delay; each next one is 4 times longer, capped at one minute. */
  retryBaseMs: number;
  /** Time allowed to a rest-hook endpoint per attempt. */
  timeoutMs: number;
  /** The server's FHIR base, to recognise absolute references to it in a payload's List items. */
  fhirBase: string;
  /** Whether the owner's client may still use its tokens: a withdrawn app's Subscriptions deliver nothing. */
  isUsable: ClientUsable;
  /** SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: rest-hooks may be http, and on non-public addresses (endpoint.ts). */
  allowPrivateEndpoints: boolean;
}

/** One line of a Subscription's delivery log (kv namespace `subscription-deliveries:<id>`). */
export interface DeliveryLogEntry {
  time: string;
  /** The version that triggered the notification: Type/id/_history/vid. */
  focus: string;
  channel: string;
  attempt: number;
  outcome: 'delivered' | 'failed' | 'no-listener' | 'gave-up';
  status?: number;
  error?: string;
}

interface Active {
  id: string;
  vid: number;
  type: string;
  filter: Filter;
  query: Query;
  subscription: Subscription;
}

const OWNER_NS = 'subscription-owner';
/** Each party's Subscriptions (`subscriptions-of:<partyKey>`, key: the id): what owner records cannot answer, read by owner. */
const ownedNs = (principal: Pick<Principal, 'clientId' | 'subject'>) => `subscriptions-of:${partyKey(principal)}`;
/** Set once the owners recorded before those lists existed are listed (SubscriptionService.listOwned). */
const OWNED_LISTS_NS = 'subscription-owner-lists';
const OWNED_LISTS_BUILT = 'built';
const LOG_TTL_MS = 7 * 24 * 3600 * 1000;
/** Active Subscriptions are re-read at least this often, so changes made through another replica are seen. */
const CACHE_MS = 5000;

/** The active Subscriptions, cached for CACHE_MS; `loaded` once the list has resolved, so a commit can see at once that there are none. */
interface ActiveCache {
  at: number;
  list: Promise<Active[]>;
  loaded?: Active[];
}

/**
 * R4 Subscriptions (https://hl7.org/fhir/R4/subscription.html): after each
 * commit the new versions are tested against every active Subscription's
 * criteria (one filter language, mingo), then, for those its owner may read
 * (judged as a read by the owner would be, at each attempt: owner-access.ts),
 * a notification goes to the channel: rest-hook
 * (POST to the endpoint, with the resource when a payload is set, else empty)
 * or websocket (`ping <id>`). Failures are retried with exponential backoff;
 * every attempt is logged; after `maxAttempts` the Subscription turns `error`.
 */
export class SubscriptionService {
  private active: ActiveCache | undefined;
  /** Settled once the owners recorded before the per-party lists are listed too (listOwned). */
  private ownedListed: Promise<void> | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;
  private seq = 0;
  /** Every rest-hook delivery connects through it: unless allowed, only to public addresses (endpoint.ts). */
  private readonly agent: Agent;

  constructor(
    private readonly engine: StoreEngine,
    private readonly repository: Repository,
    readonly hub: WebsocketHub,
    private readonly log: FastifyBaseLogger,
    private readonly options: SubscriptionOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.agent = deliveryAgent(options.allowPrivateEndpoints);
  }

  /** The commit listener: never blocks the write; matching and delivery run after it. */
  onCommit(records: VersionRecord[]): void {
    if (this.closed) return;
    if (records.some((r) => r.type === 'Subscription')) this.active = undefined;
    // Known to be none (the usual case): nothing to evaluate, and no promise to track per commit.
    const active = this.active;
    if (active?.loaded?.length === 0 && this.now() - active.at < CACHE_MS) return;
    const candidates = records.filter((r) => !r.deleted && r.type !== 'AuditEvent');
    if (!candidates.length) return;
    this.track(this.evaluate(candidates));
  }

  /**
   * Records `principal` as the owner of Subscription/<id> unless another is
   * recorded: 'claimed' when this call recorded it, 'owned' when it was
   * already theirs, 'taken' when someone else's. Atomic in the store
   * (putIfAbsent), so two callers (or replicas) cannot both become the owner.
   */
  async claimOwner(id: string, principal: Principal): Promise<'claimed' | 'owned' | 'taken'> {
    for (;;) {
      const owner = await this.owner(id);
      if (owner && !sameParty(owner, principal)) return 'taken';
      if (owner || (await this.engine.kv.putIfAbsent(OWNER_NS, id, principal))) {
        // Listed under its owner before the Subscription is written, so that it is never missing from
        // their searches; listed again when already theirs (a crash between the two puts). Only once the
        // claim is theirs: removing the entry of a refused claim could race with the same party's
        // claim that won. An entry whose owner is someone else is harmless (ownedBy checks the owner).
        await this.engine.kv.put(ownedNs(principal), id, true);
        return owner ? 'owned' : 'claimed';
      }
    }
  }

  /** Undoes a claim whose write failed: only while the recorded owner is still `principal`. */
  async releaseOwner(id: string, principal: Principal): Promise<void> {
    if (await this.engine.kv.deleteIf(OWNER_NS, id, principal)) await this.engine.kv.delete(ownedNs(principal), id);
  }

  /**
   * The ids of the Subscriptions `principal` owns (deleted ones included: a
   * search leaves those out itself), so that a search can be restricted to
   * them in its query (access/guard.ts searchRestriction). The owner record
   * decides: an entry of the party's list whose owner is not, or no longer,
   * this party (a crash between a release's two deletes) is left out.
   */
  async ownedBy(principal: Principal): Promise<string[]> {
    await (this.ownedListed ??= this.listOwned());
    const listed = await this.engine.kv.list<unknown>(ownedNs(principal));
    const owners = await Promise.all(listed.map(({ key }) => this.engine.kv.get<Pick<Principal, 'clientId' | 'subject'>>(OWNER_NS, key)));
    return listed.flatMap(({ key }, i) => (owners[i] && sameParty(owners[i], principal) ? [key] : []));
  }

  /**
   * Lists, once per store, the owners recorded before each party's list
   * existed: until then only a new claim (or an owner's PUT) listed a
   * Subscription. Idempotent, so replicas starting together may both run it.
   */
  private listOwned(): Promise<void> {
    const run = async () => {
      if (await this.engine.kv.get(OWNED_LISTS_NS, OWNED_LISTS_BUILT)) return;
      for (const { key, value } of await this.engine.kv.list<Principal>(OWNER_NS)) await this.engine.kv.put(ownedNs(value), key, true);
      await this.engine.kv.put(OWNED_LISTS_NS, OWNED_LISTS_BUILT, true);
    };
    // A failure is tried again by the next search rather than remembered.
    return run().catch((err: unknown) => {
      this.ownedListed = undefined;
      throw err;
    });
  }

  async owner(id: string): Promise<Principal | undefined> {
    const stored = await this.engine.kv.get<Principal>(OWNER_NS, id);
    // Parsed scopes hold Sets, which JSON does not keep: rebuild them from the granted scope text.
    return stored ? { ...stored, scopes: parseScopes(stored.scope).resources } : undefined;
  }

  /** The delivery log, oldest first. */
  async deliveries(id: string): Promise<DeliveryLogEntry[]> {
    const rows = await this.engine.kv.list<DeliveryLogEntry>(`subscription-deliveries:${id}`);
    return rows.sort((a, b) => (a.key < b.key ? -1 : 1)).map((r) => r.value);
  }

  /** Stops retries; waits for deliveries under way. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.pending]);
    await this.agent.destroy();
  }

  private track(work: Promise<unknown>): void {
    const p = work.catch((err: unknown) => this.log.error({ err }, 'subscription processing failed'));
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private async evaluate(records: VersionRecord[]): Promise<void> {
    const active = await this.loadActive();
    if (!active.length) return;
    for (const record of records) {
      for (const sub of active) {
        if (sub.type !== record.type || sub.id === record.id) continue;
        if (!sub.query.test(record as unknown as Record<string, unknown>)) continue;
        // Whether its owner may read it is judged by deliver, at each attempt.
        this.track(this.deliver(sub, record, 1));
      }
    }
  }

  private loadActive(): Promise<Active[]> {
    const now = this.now();
    if (this.active && now - this.active.at < CACHE_MS) return this.active.list;
    const list = (async () => {
      const records = await this.engine.find({ types: ['Subscription'], filter: { 'idx.status.c': 'active' }, sort: [['id', 1]], limit: 10000 });
      const Mingo = await mingoQuery();
      const out: Active[] = [];
      for (const r of records) {
        const subscription = JSON.parse(r.json) as Subscription;
        try {
          const { type, filter } = compileCriteria(subscription.criteria);
          out.push({ id: r.id, vid: r.vid, type, filter, query: new Mingo(filter), subscription });
        } catch (err) {
          this.log.warn({ err, id: r.id }, 'stored Subscription criteria no longer compile');
        }
      }
      return out;
    })();
    const entry: ActiveCache = { at: now, list };
    this.active = entry;
    void list.then((loaded) => (entry.loaded = loaded), () => undefined);
    return list;
  }

  /**
   * How the owner reads, when they may read this version now (owner-access.ts:
   * the same decision a read by them would get, and nothing once their app is
   * withdrawn); undefined otherwise, and then nothing at all is sent.
   */
  private async ownerJudge(id: string, record: VersionRecord): Promise<{ owner: Principal; reads: OwnerReads } | undefined> {
    const owner = await this.owner(id);
    if (!owner) return undefined;
    const reads = await ownerReads(owner, this.engine, this.options.isUsable, this.now, this.options.fhirBase);
    return reads && (await reads(record)) ? { owner, reads } : undefined;
  }

  /** The resource as its owner would read it: a List without the items they may not read. */
  private async payload(record: VersionRecord, { owner, reads }: { owner: Principal; reads: OwnerReads }): Promise<string> {
    if (owner.kind === 'system') return record.json;
    return (await withoutHiddenReferences(record, this.engine, this.options.fhirBase, reads)).json;
  }

  private async deliver(sub: Active, record: VersionRecord, attempt: number): Promise<void> {
    if (this.closed) return;
    // Each attempt, retries included, is judged anew: a withdrawn app or Consent, or a newly
    // masked document, stops what was waiting to be sent.
    const judged = await this.ownerJudge(sub.id, record);
    if (!judged) return;
    const channel = sub.subscription.channel;
    const focus = `${record.type}/${record.id}/_history/${record.vid}`;
    const entry: DeliveryLogEntry = { time: new Date(this.now()).toISOString(), focus, channel: channel.type, attempt, outcome: 'delivered' };
    if (channel.type === 'websocket') {
      if (this.hub.ping(sub.id) === 0) entry.outcome = 'no-listener';
      await this.logDelivery(sub.id, entry);
      return;
    }
    try {
      // Checked again at each attempt: the setting may have changed since the Subscription was written,
      // and the address a name resolves to is checked as the connection is made (deliveryAgent).
      const problem = endpointProblem(channel.endpoint, this.options.allowPrivateEndpoints);
      if (problem) throw new EndpointRefusedError(`refused: ${problem}`);
      const headers: Record<string, string> = {};
      for (const line of channel.header ?? []) {
        // As accepted when written (criteria.ts); a header stored before a rule existed is left out.
        const header = parseChannelHeader(line);
        if (header) headers[header[0]] = header[1];
      }
      const withPayload = typeof channel.payload === 'string' && channel.payload.length > 0;
      if (withPayload) headers['content-type'] = channel.payload!;
      // undici's request follows no redirect: a 3xx is a failed attempt, never a call elsewhere.
      const res = await httpRequest(channel.endpoint!, {
        method: 'POST', headers, body: withPayload ? await this.payload(record, judged) : undefined, signal: AbortSignal.timeout(this.options.timeoutMs), dispatcher: this.agent,
      });
      await res.body.dump().catch(() => undefined);
      entry.status = res.statusCode;
      if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`endpoint answered ${res.statusCode}`);
    } catch (err) {
      entry.outcome = 'failed';
      entry.error = deliveryError(err, this.options.allowPrivateEndpoints);
    }
    await this.logDelivery(sub.id, entry);
    if (entry.outcome !== 'failed') return;
    if (attempt >= this.options.maxAttempts) {
      await this.logDelivery(sub.id, { ...entry, outcome: 'gave-up', time: new Date(this.now()).toISOString() });
      await this.markError(sub, `${attempt} failed attempts to deliver ${focus}: ${entry.error ?? ''}`);
      return;
    }
    const delay = Math.min(60_000, this.options.retryBaseMs * 4 ** (attempt - 1));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.track(this.deliver(sub, record, attempt + 1));
    }, delay);
    this.timers.add(timer);
  }

  private async logDelivery(id: string, entry: DeliveryLogEntry): Promise<void> {
    const key = `${entry.time}|${String(++this.seq).padStart(8, '0')}`;
    await this.engine.kv.put(`subscription-deliveries:${id}`, key, entry, { expiresAt: this.now() + LOG_TTL_MS });
  }

  private async markError(sub: Active, message: string): Promise<void> {
    const current = await this.engine.current('Subscription', sub.id);
    if (!current || current.deleted) return;
    const stored = JSON.parse(current.json) as Subscription;
    if (stored.status !== 'active') return;
    await this.repository.update('Subscription', sub.id, { ...stored, status: 'error', error: message.slice(0, 500) }, { ifMatch: `W/"${current.vid}"` })
      .catch((err: unknown) => this.log.warn({ err, id: sub.id }, 'could not mark the Subscription in error'));
  }
}
