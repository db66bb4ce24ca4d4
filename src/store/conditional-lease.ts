import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { FhirError } from '../errors.js';
import type { KeyValueStore } from './engine.js';

const NS = 'conditional-lease';
/** The one lease of conditional interactions; other keys are other leases (a resource's turn). */
const ALL = 'all';
/** Polling for a lease someone holds: short first (most holders finish in milliseconds), then capped. */
const FIRST_WAIT_MS = 2;
const MAX_WAIT_MS = 100;

export interface LeaseOptions {
  /** Which lease: by default the one of conditional interactions. */
  key?: string;
  /**
   * How long a lease lasts when its holder never gives it back (its server
   * stopped): the others wait for it that long. A holder still working past
   * it loses the guarantee, not its work.
   */
  ttlMs: number;
  now: () => number;
  /** Told when a lease could not be given back: every server then waits for it to expire. */
  log?: { warn: (obj: object, msg: string) => void };
}

/**
 * Runs `work` while holding the store's one lease on conditional
 * interactions, so that servers sharing a store (replicas on one MongoDB)
 * take turns as the requests of one server do in Repository's queue: two
 * If-None-Exist creates with the same criteria on two replicas cannot both
 * create. The lease is an expiring key-value entry; it is given back only by
 * its holder (deleteIf), so a late release never ends the next holder's turn.
 * A server that waited twice the lease's life without getting it answers 503:
 * another server's clock, or a stuck holder, keeps it.
 */
export async function runWithLease<T>(kv: KeyValueStore, work: () => Promise<T>, { key = ALL, ttlMs, now, log }: LeaseOptions): Promise<T> {
  const holder = randomUUID();
  const giveUpAt = now() + 2 * ttlMs;
  for (let wait = FIRST_WAIT_MS; !(await kv.putIfAbsent(NS, key, holder, { expiresAt: now() + ttlMs })); wait = Math.min(2 * wait, MAX_WAIT_MS)) {
    if (now() > giveUpAt) {
      const what = key === ALL ? 'Conditional interactions are' : `Writes to ${key} are`;
      throw new FhirError('FHIR_ERR_STORE_BUSY', 503, 'transient', `${what} waiting for another server of this deployment; try again`, { headers: { 'retry-after': '1' } });
    }
    await delay(wait);
  }
  try {
    return await work();
  } finally {
    await kv.deleteIf(NS, key, holder).catch((err: unknown) => {
      log?.warn({ err }, `lease ${key} not given back: every server waits for it to expire (${ttlMs / 1000} s)`);
    });
  }
}
