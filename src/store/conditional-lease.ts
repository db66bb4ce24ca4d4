import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { KeyValueStore } from './engine.js';

const NS = 'conditional-lease';
const KEY = 'all';
/** Polling for a lease someone holds: short first (most holders finish in milliseconds), then capped. */
const FIRST_WAIT_MS = 2;
const MAX_WAIT_MS = 100;

export interface LeaseOptions {
  /**
   * How long a lease lasts when its holder never gives it back (its server
   * stopped): the others wait at most this long for it. A holder still working
   * past it loses the guarantee, not its work.
   */
  ttlMs: number;
  now: () => number;
}

/**
 * Runs `work` while holding the store's one lease on conditional
 * interactions, so that servers sharing a store (replicas on one MongoDB)
 * take turns as the requests of one server do in Repository's queue: two
 * If-None-Exist creates with the same criteria on two replicas cannot both
 * create. The lease is an expiring key-value entry; it is given back only by
 * its holder (deleteIf), so a late release never ends the next holder's turn.
 */
export async function underLease<T>(kv: KeyValueStore, work: () => Promise<T>, { ttlMs, now }: LeaseOptions): Promise<T> {
  const holder = randomUUID();
  for (let wait = FIRST_WAIT_MS; !(await kv.putIfAbsent(NS, KEY, holder, { expiresAt: now() + ttlMs })); wait = Math.min(2 * wait, MAX_WAIT_MS)) {
    await delay(wait);
  }
  try {
    return await work();
  } finally {
    // Not given back (the store failing): it expires.
    await kv.deleteIf(NS, KEY, holder).catch(() => undefined);
  }
}
