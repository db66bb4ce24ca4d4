import type { KvOp } from './batch-codec.js';

/** A stored value as JSON text (so every read returns a fresh copy) and its expiry. */
export interface KvEntry {
  v: string;
  exp?: number;
}

/** The published key-value state of the embedded store: durable mutations only. */
export class KvTable {
  private readonly byNs = new Map<string, Map<string, KvEntry>>();

  constructor(private readonly now: () => number) {}

  /** The live entry, or undefined when absent or expired (expired ones are dropped here, lazily). */
  get(ns: string, key: string): KvEntry | undefined {
    const map = this.byNs.get(ns);
    const entry = map?.get(key);
    if (!entry) return undefined;
    if (isExpired(entry, this.now())) {
      map!.delete(key);
      return undefined;
    }
    return entry;
  }

  list(ns: string): Array<{ key: string; entry: KvEntry }> {
    const map = this.byNs.get(ns);
    if (!map) return [];
    const now = this.now();
    const out: Array<{ key: string; entry: KvEntry }> = [];
    for (const [key, entry] of map) {
      if (isExpired(entry, now)) map.delete(key);
      else out.push({ key, entry });
    }
    return out;
  }

  /** Every live entry of every namespace. */
  entries(): Array<{ ns: string; key: string; entry: KvEntry }> {
    const out: Array<{ ns: string; key: string; entry: KvEntry }> = [];
    for (const ns of this.byNs.keys()) for (const { key, entry } of this.list(ns)) out.push({ ns, key, entry });
    return out;
  }

  apply(op: KvOp): void {
    if (op.op === 'put') {
      let map = this.byNs.get(op.ns);
      if (!map) this.byNs.set(op.ns, (map = new Map()));
      map.set(op.key, op.exp === undefined ? { v: op.v } : { v: op.v, exp: op.exp });
    } else {
      this.byNs.get(op.ns)?.delete(op.key);
    }
  }
}

export function isExpired(entry: KvEntry, now: number): boolean {
  return entry.exp !== undefined && entry.exp <= now;
}
