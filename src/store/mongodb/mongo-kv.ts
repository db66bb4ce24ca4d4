import type { Collection } from 'mongodb';
import type { KeyValueStore } from '../engine.js';

export interface KvDoc {
  _id: string;
  ns: string;
  key: string;
  /** JSON text, so values read back exactly as the embedded engine returns them. */
  v: string;
  /** A Date, because MongoDB's TTL index only expires Date fields. */
  expiresAt?: Date;
}

/**
 * The key-value store on a collection with a TTL index on `expiresAt`. The
 * TTL monitor runs only once a minute, so every read also filters on expiry.
 */
export function createMongoKv(kv: Collection<KvDoc>, now: () => number): KeyValueStore {
  const live = () => ({ $or: [{ expiresAt: { $exists: false } }, { expiresAt: { $gt: new Date(now()) } }] });
  const doc = (ns: string, key: string, value: unknown, expiresAt?: number): KvDoc => ({
    _id: idOf(ns, key),
    ns,
    key,
    v: JSON.stringify(value ?? null),
    ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt) }),
  });
  return {
    async get<T>(ns: string, key: string) {
      const found = await kv.findOne({ _id: idOf(ns, key), ...live() });
      return found ? (JSON.parse(found.v) as T) : undefined;
    },
    async put<T>(ns: string, key: string, value: T, options?: { expiresAt?: number }) {
      await kv.replaceOne({ _id: idOf(ns, key) }, doc(ns, key, value, options?.expiresAt), { upsert: true });
    },
    async putIfAbsent<T>(ns: string, key: string, value: T, options?: { expiresAt?: number }) {
      const next = doc(ns, key, value, options?.expiresAt);
      /** False when the key is taken (duplicate _id). */
      const insert = async (): Promise<boolean> => {
        try {
          await kv.insertOne(next);
          return true;
        } catch (err) {
          if (isDuplicateKey(err)) return false;
          throw err;
        }
      };
      if (await insert()) return true;
      // Present: it may still be an expired entry the TTL monitor has not removed yet,
      // or one it removed just now, after the insert failed (then the insert is tried again once).
      const replaced = await kv.replaceOne({ _id: next._id, expiresAt: { $lte: new Date(now()) } }, next);
      return replaced.matchedCount === 1 || insert();
    },
    async take<T>(ns: string, key: string) {
      const found = await kv.findOneAndDelete({ _id: idOf(ns, key), ...live() });
      return found ? (JSON.parse(found.v) as T) : undefined;
    },
    async delete(ns: string, key: string) {
      await kv.deleteOne({ _id: idOf(ns, key) });
    },
    async deleteIf<T>(ns: string, key: string, value: T) {
      return (await kv.deleteOne({ _id: idOf(ns, key), v: JSON.stringify(value ?? null), ...live() })).deletedCount === 1;
    },
    async list<T>(ns: string) {
      const docs = await kv.find({ ns, ...live() }).toArray();
      return docs.map((d) => ({ key: d.key, value: JSON.parse(d.v) as T }));
    },
  };
}

function idOf(ns: string, key: string): string {
  return `${ns}\u0000${key}`;
}

export function isDuplicateKey(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 11000;
}
