import type { KeyValueStore } from '../../store/engine.js';

/**
 * Counts failed sign-ins per account and per client address in the kv store
 * (shared by replicas) over a fixed window. Counting is read-then-write, so
 * concurrent failures on two replicas may undercount by a little: a brake on
 * guessing, not an exact meter.
 */
export interface SignInLimits {
  perAccount: number;
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = { perAccount: 5, perAddress: 20, windowMs: 15 * 60_000 };

interface Counter {
  count: number;
  resetAt: number;
}

const NS = 'sign-in-failures';

export class SignInLimiter {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds to wait before trying again, or 0 when a try is allowed. */
  async retryAfter(accountKey: string, address: string): Promise<number> {
    const [account, ip] = await Promise.all([this.read(`account:${accountKey}`), this.read(`address:${address}`)]);
    const blockedUntil = Math.max(
      account && account.count >= this.limits.perAccount ? account.resetAt : 0,
      ip && ip.count >= this.limits.perAddress ? ip.resetAt : 0,
    );
    return blockedUntil > this.now() ? Math.ceil((blockedUntil - this.now()) / 1000) : 0;
  }

  async recordFailure(accountKey: string, address: string): Promise<void> {
    await Promise.all([this.bump(`account:${accountKey}`), this.bump(`address:${address}`)]);
  }

  /** A successful sign-in clears the account's count (not the address's). */
  async recordSuccess(accountKey: string): Promise<void> {
    await this.kv.delete(NS, `account:${accountKey}`);
  }

  private async read(key: string): Promise<Counter | undefined> {
    const counter = await this.kv.get<Counter>(NS, key);
    return counter && counter.resetAt > this.now() ? counter : undefined;
  }

  private async bump(key: string): Promise<void> {
    const current = await this.read(key);
    const next: Counter = current ? { count: current.count + 1, resetAt: current.resetAt } : { count: 1, resetAt: this.now() + this.limits.windowMs };
    await this.kv.put(NS, key, next, { expiresAt: next.resetAt });
  }
}
