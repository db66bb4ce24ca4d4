import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Query } from 'mingo';
import { compiledQuery, mingoQuery } from '../lazy-mingo.js';
import { FhirError, VersionConflictError } from '../../errors.js';
import type {
  BlobStore,
  FindQuery,
  HistoryQuery,
  KeyValueStore,
  StoreEngine,
  VersionRecord,
  WriteOp,
} from '../engine.js';
import { decodeBatch, decodeRecordAt, encodeBatch, type KvOp } from './batch-codec.js';
import { FileBlobStore } from './blob-files.js';
import { fsyncDirectory } from './fsync-directory.js';
import { acquireDataLock, type DataLock } from './data-lock.js';
import { Journal, JournalWriteError, type EngineLog } from './journal.js';
import { openKvJournal } from './kv-journal.js';
import { isExpired, KvTable, type KvEntry } from './kv-table.js';
import { ResourceTable, type VersionRef } from './resource-table.js';
import { sortAndLimit } from './sort-records.js';

export interface EmbeddedEngineOptions {
  dataDir: string;
  log?: EngineLog;
  /** Clock for key-value expiry; tests pass their own instead of sleeping. */
  now?: () => number;
}

/** The default engine: everything in memory, made durable by an fsynced journal in `dataDir`. */
export function createEmbeddedEngine(options: EmbeddedEngineOptions): StoreEngine {
  return new EmbeddedEngine(options);
}

const silentInfo: EngineLog = { info: () => undefined, warn: (msg) => console.warn(msg) };

/** Owner tag of pending (not yet durable) state, so a batch clears only what it set. */
type Owner = object;

class EmbeddedEngine implements StoreEngine {
  readonly kind = 'embedded' as const;
  readonly kv: KeyValueStore;
  readonly blobs: BlobStore;

  private readonly dataDir: string;
  private readonly log: EngineLog;
  private readonly now: () => number;
  private journal: Journal | undefined;
  private kvJournal: Journal | undefined;
  private lock: DataLock | undefined;
  private table = new ResourceTable();
  private kvTable: KvTable;
  /**
   * Versions and kv entries whose frame is queued but not yet synced. Checks
   * (expectVid, putIfAbsent, take) look here first, so concurrent commits are
   * ordered as the journal orders them; reads do not, so nobody sees a write
   * before it is durable.
   */
  private readonly pendingVids = new Map<string, { vid: number; owner: Owner }>();
  private readonly pendingKv = new Map<string, { entry: KvEntry | undefined; owner: Owner }>();

  constructor(options: EmbeddedEngineOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.log = options.log ?? silentInfo;
    this.now = options.now ?? Date.now;
    this.kvTable = new KvTable(this.now);
    this.blobs = new FileBlobStore(path.join(this.dataDir, 'blobs'));
    this.kv = this.keyValueStore();
  }

  async open(): Promise<void> {
    if (this.journal) throw new Error(`embedded store ${this.dataDir} is already open`);
    // Sync the parent too: a power loss must not forget a directory just created.
    if ((await mkdir(this.dataDir, { recursive: true })) !== undefined) await fsyncDirectory(this.dataDir);
    const lock = await acquireDataLock(this.dataDir, this.log);
    try {
      const started = performance.now();
      this.table = new ResourceTable();
      this.kvTable = new KvTable(this.now);
      let versions = 0;
      // Every blob any version names, history included: only the current versions stay in memory.
      const referenced = new Set<string>();
      this.journal = await Journal.open(path.join(this.dataDir, 'journal'), this.log, (payload, frame) => {
        const batch = decodeBatch(payload);
        batch.records.forEach((record, slot) => {
          this.table.apply(record, frame, slot);
          if (record.blob !== undefined) referenced.add(record.blob);
        });
        versions += batch.records.length;
      });
      this.kvJournal = await openKvJournal(path.join(this.dataDir, 'kv-journal'), this.log, this.kvTable, this.now());
      const blobs = this.blobs as FileBlobStore;
      await blobs.init();
      await this.removeOrphanBlobs(blobs, referenced);
      this.log.info(`embedded store ${this.dataDir}: ${versions} versions replayed in ${Math.round(performance.now() - started)} ms`);
      this.lock = lock;
    } catch (err) {
      await this.journal?.close().catch(() => undefined);
      await this.kvJournal?.close().catch(() => undefined);
      this.journal = undefined;
      this.kvJournal = undefined;
      await lock.release();
      throw err;
    }
  }

  /**
   * Removes the blobs no version names: the bytes of Binary writes that
   * never committed (the server was killed between storing the bytes and
   * the commit, or the commit failed and the clean-up did not run). Only
   * once both journals are replayed, under the data lock, and only files
   * older than this process: nothing written since it started (a write of an
   * engine opened earlier in the same process, still in flight) is touched.
   * Nothing but a version names a blob (the key-value store holds none), so
   * the journal's records are the whole list. A failure only leaves the files.
   */
  private async removeOrphanBlobs(blobs: FileBlobStore, referenced: ReadonlySet<string>): Promise<void> {
    try {
      const removed = await blobs.removeUnreferenced(referenced, performance.timeOrigin);
      if (removed.files > 0) {
        this.log.info(`embedded store ${this.dataDir}: removed ${removed.blobs} blob${removed.blobs === 1 ? '' : 's'} that no version names (${removed.files} files, ${removed.bytes} bytes), left by Binary writes that never committed`);
      }
    } catch (err) {
      this.log.warn(`embedded store ${this.dataDir}: could not remove unreferenced blobs (${err instanceof Error ? err.message : String(err)})`);
    }
  }

  async close(): Promise<void> {
    const journal = this.journal;
    if (!journal) return;
    this.journal = undefined;
    await journal.close();
    await this.kvJournal?.close();
    this.kvJournal = undefined;
    await this.lock?.release();
    this.lock = undefined;
  }

  async isReady(): Promise<boolean> {
    return this.journal !== undefined && this.journal.failed === undefined && this.kvJournal?.failed === undefined;
  }

  async current(type: string, id: string): Promise<VersionRecord | undefined> {
    this.openJournal();
    return this.table.get(type, id)?.current;
  }

  async version(type: string, id: string, vid: number): Promise<VersionRecord | undefined> {
    const journal = this.openJournal();
    const state = this.table.get(type, id);
    const ref = state?.versions.find((v) => v.vid === vid);
    return ref ? this.load(journal, ref, new Map()) : undefined;
  }

  async commit(ops: WriteOp[]): Promise<void> {
    const journal = this.openJournal();
    if (ops.length === 0) return;
    // Every check before anything is queued: a failing batch leaves no trace.
    const planned = new Map<string, number>();
    for (const { record, expectVid } of ops) {
      const key = `${record.type}/${record.id}`;
      const currentVid = planned.get(key) ?? this.pendingVids.get(key)?.vid ?? this.table.get(record.type, record.id)?.current.vid ?? 0;
      if (currentVid !== expectVid) {
        throw new VersionConflictError(
          expectVid === 0
            ? `${key} already exists`
            : `${key} is at version ${currentVid === 0 ? '(none)' : currentVid}, not ${expectVid}`,
        );
      }
      planned.set(key, record.vid);
    }
    const records = ops.map((op) => op.record);
    const payload = encodeBatch({ records, kv: [] }, ops.map((op) => op.indexJson));
    const owner: Owner = {};
    for (const [key, vid] of planned) this.pendingVids.set(key, { vid, owner });
    const settle = (): void => {
      for (const key of planned.keys()) if (this.pendingVids.get(key)?.owner === owner) this.pendingVids.delete(key);
    };
    try {
      await journal.append(payload, (frame) => {
        records.forEach((record, slot) => this.table.apply(record, frame, slot));
        settle();
      });
    } catch (err) {
      settle();
      throw writeFailure(err);
    }
  }

  async find(query: FindQuery): Promise<VersionRecord[]> {
    return sortAndLimit(this.matching(query, await mingoQuery()), query.sort, query.limit, query.reverse === true);
  }

  async count(query: Omit<FindQuery, 'sort' | 'limit'>): Promise<number> {
    return this.matching(query, await mingoQuery()).length;
  }

  async history(query: HistoryQuery): Promise<VersionRecord[]> {
    const journal = this.openJournal();
    const frames = new Map<number, Promise<Buffer>>();
    return Promise.all(this.table.history(query).map((ref) => this.load(journal, ref, frames)));
  }

  private matching(query: Omit<FindQuery, 'sort' | 'limit'>, Mingo: typeof Query): VersionRecord[] {
    this.openJournal();
    const { types, filter } = query;
    // Compiled on first use: an exact narrowing (most indexed searches) never tests a record.
    let compiled: Query | undefined;
    const test = Object.keys(filter).length > 0
      ? (record: VersionRecord) => (compiled ??= compiledQuery(Mingo, filter)).test(record as unknown as Record<string, unknown>)
      : undefined;
    return this.table.matching(types, filter, test);
  }

  /** A version from memory when it is the current one, else from its journal frame. */
  private async load(journal: Journal, ref: VersionRef, frames: Map<number, Promise<Buffer>>): Promise<VersionRecord> {
    const current = ref.resource.current;
    if (current.vid === ref.vid && current.hk === ref.hk) return current;
    let payload = frames.get(ref.frame);
    if (!payload) frames.set(ref.frame, (payload = journal.read(ref.frame)));
    return decodeRecordAt(await payload, ref.slot);
  }

  private openJournal(): Journal {
    if (!this.journal) throw new Error(`embedded store ${this.dataDir} is not open`);
    return this.journal;
  }

  /** Queues kv mutations; the pending overlay makes them visible to later checks at once. */
  private async writeKv(ops: KvOp[]): Promise<void> {
    this.openJournal();
    const journal = this.kvJournal!;
    const owner: Owner = {};
    const keys = ops.map((op) => kvKey(op.ns, op.key));
    ops.forEach((op, i) => this.pendingKv.set(keys[i]!, { entry: op.op === 'put' ? toEntry(op) : undefined, owner }));
    const settle = (): void => {
      for (const key of keys) if (this.pendingKv.get(key)?.owner === owner) this.pendingKv.delete(key);
    };
    const payload = encodeBatch({ records: [], kv: ops });
    try {
      await journal.append(payload, () => {
        for (const op of ops) this.kvTable.apply(op);
        settle();
      });
    } catch (err) {
      settle();
      throw writeFailure(err);
    }
  }

  /** The entry a check must see: pending state first, then the published one. */
  private liveKv(ns: string, key: string): KvEntry | undefined {
    this.openJournal();
    const pending = this.pendingKv.get(kvKey(ns, key));
    if (pending) return pending.entry && !isExpired(pending.entry, this.now()) ? pending.entry : undefined;
    return this.kvTable.get(ns, key);
  }

  private keyValueStore(): KeyValueStore {
    return {
      get: async <T>(ns: string, key: string) => {
        this.openJournal();
        const entry = this.kvTable.get(ns, key);
        return entry ? (JSON.parse(entry.v) as T) : undefined;
      },
      put: async <T>(ns: string, key: string, value: T, options?: { expiresAt?: number }) => {
        await this.writeKv([putOp(ns, key, value, options?.expiresAt)]);
      },
      putIfAbsent: async <T>(ns: string, key: string, value: T, options?: { expiresAt?: number }) => {
        if (this.liveKv(ns, key)) return false;
        await this.writeKv([putOp(ns, key, value, options?.expiresAt)]);
        return true;
      },
      take: async <T>(ns: string, key: string) => {
        const entry = this.liveKv(ns, key);
        if (!entry) return undefined;
        await this.writeKv([{ op: 'del', ns, key }]);
        return JSON.parse(entry.v) as T;
      },
      delete: async (ns: string, key: string) => {
        await this.writeKv([{ op: 'del', ns, key }]);
      },
      deleteIf: async <T>(ns: string, key: string, value: T) => {
        if (this.liveKv(ns, key)?.v !== JSON.stringify(value ?? null)) return false;
        await this.writeKv([{ op: 'del', ns, key }]);
        return true;
      },
      hasNow: (ns: string, key: string) => {
        this.openJournal();
        return this.kvTable.get(ns, key) !== undefined;
      },
      list: async <T>(ns: string) => {
        this.openJournal();
        return this.kvTable.list(ns).map(({ key, entry }) => ({ key, value: JSON.parse(entry.v) as T }));
      },
    };
  }
}

function kvKey(ns: string, key: string): string {
  return `${ns}\u0000${key}`;
}

function putOp(ns: string, key: string, value: unknown, expiresAt: number | undefined): KvOp {
  const v = JSON.stringify(value ?? null);
  return expiresAt === undefined ? { op: 'put', ns, key, v } : { op: 'put', ns, key, v, exp: expiresAt };
}

function toEntry(op: Extract<KvOp, { op: 'put' }>): KvEntry {
  return op.exp === undefined ? { v: op.v } : { v: op.v, exp: op.exp };
}

/**
 * A write the journal refused after a disk error (EIO, ENOSPC...), as the
 * client is told: 503, the store takes no more writes until the server is
 * restarted (GET /health says 503 meanwhile). FHIR_ERR_STORE_UNAVAILABLE when
 * the write may be on disk all the same (store/engine.ts mayHaveLanded: the
 * bytes of its Binaries are kept), FHIR_ERR_STORE_WRITE_FAILED when it was
 * never written.
 */
function writeFailure(err: unknown): unknown {
  if (!(err instanceof JournalWriteError)) return err;
  return err.mayHaveLanded
    ? new FhirError('FHIR_ERR_STORE_UNAVAILABLE', 503, 'transient', 'The disk failed while this write was being stored: it may have been stored or not (read it back before trying again). The store accepts no more writes until the server is restarted', { cause: err })
    : new FhirError('FHIR_ERR_STORE_WRITE_FAILED', 503, 'transient', 'Nothing was stored: the store accepts no more writes since a disk failure, until the server is restarted', { cause: err });
}
