import type { Readable } from 'node:stream';
import type { SearchIndex, SortKeys } from '../fhir/search/index-types.js';
import { FhirError } from '../errors.js';

/**
 * The engine contract: the thin layer each storage engine implements
 * (embedded, MongoDB). It knows nothing of FHIR rules: ids, meta, validation,
 * index extraction and conditional logic live above it, in store/repository.ts,
 * so that one tested piece of code carries them for every engine.
 *
 * Data model: every write appends an immutable VersionRecord; the newest record
 * of a (type, id) is its current version (a tombstone when `deleted`).
 */
export interface VersionRecord {
  /** resourceType */
  type: string;
  id: string;
  /** versionId as an integer, 1-based, +1 per write of this (type, id). */
  vid: number;
  /** lastUpdated as epoch milliseconds (what `_lastUpdated`, `_since` compare). */
  ts: number;
  /** lastUpdated as written in meta.lastUpdated. */
  lastUpdated: string;
  /**
   * History key: unique, sortable (newest has the greatest), stable forever.
   * `${lastUpdated}|${tx}|${n}` keeps all writes of one transaction together.
   */
  hk: string;
  deleted: boolean;
  /** The resource exactly as served on read (meta included); '' for a tombstone. */
  json: string;
  /** Search index values computed at write time; {} for a tombstone. */
  idx: SearchIndex;
  /** Sort keys for `_sort`, one per sortable parameter that has a value. */
  srt: SortKeys;
  /** Patient compartments this version belongs to, as 'Patient/123'. */
  comp: string[];
  /** Key of the raw bytes in the BlobStore (Binary resources). */
  blob?: string;
  /** Method that produced the version, for history entries. */
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
}

/** One write of a commit: `record` becomes current if the check holds. */
export interface WriteOp {
  record: VersionRecord;
  /** The vid that must be current now; 0 means no version of (type, id) may exist. */
  expectVid: number;
  /**
   * The record's idx, srt and comp already serialised, as the members of a
   * JSON object (`"idx":{...},"srt":{...},"comp":[...]`), when the write
   * worker that extracted them did so: an engine that serialises records may
   * use it rather than serialising them again. Never stored as such.
   */
  indexJson?: string;
}

/**
 * A MongoDB query document over VersionRecord fields (type, id, vid, ts, deleted,
 * idx.*, srt.*, comp). store/filter.ts builds them; the MongoDB engine runs them
 * natively, the embedded engine with mingo.
 */
export type Filter = Record<string, unknown>;

/** Sort over VersionRecord fields; callers always end it with unique tie-breakers (type, id). */
export type SortSpec = Array<[field: string, direction: 1 | -1]>;

export interface FindQuery {
  /** Restricts to current, non-deleted versions of these types (all types when empty). */
  types: string[];
  filter: Filter;
  sort: SortSpec;
  /**
   * The exact mirror of `sort`'s order, records lacking a sort value first
   * (they come last in `sort` order, whichever the direction): how a
   * `previous` page reads backwards from its cursor. Flipping each direction
   * instead would keep them last, and that page would skip and repeat records.
   */
  reverse?: boolean;
  limit: number;
}

export interface HistoryQuery {
  type?: string;
  id?: string;
  /** Only versions with ts >= since. */
  since?: number;
  /**
   * Only versions with ts <= at: the end of FHIR `_at`'s period (the
   * repository leaves out those superseded before its start).
   */
  at?: number;
  /** Continue strictly after this history key (newest first: hk < afterKey). */
  afterKey?: string;
  limit: number;
}

export interface StoreEngine {
  readonly kind: 'embedded' | 'mongodb';
  open(): Promise<void>;
  close(): Promise<void>;
  /** True when the engine can serve reads and writes now. */
  isReady(): Promise<boolean>;

  /** The newest version of (type, id), tombstones included. */
  current(type: string, id: string): Promise<VersionRecord | undefined>;
  version(type: string, id: string, vid: number): Promise<VersionRecord | undefined>;

  /**
   * Applies every op or none. Checks every `expectVid` first; on the first that
   * fails, throws VersionConflictError (409) and writes nothing. Resolves only
   * once the writes are durable (embedded: journal fsynced).
   */
  commit(ops: WriteOp[]): Promise<void>;

  /** Current, non-deleted versions matching the query, in sort order. */
  find(query: FindQuery): Promise<VersionRecord[]>;
  count(query: Omit<FindQuery, 'sort' | 'limit'>): Promise<number>;
  /** Versions newest first (hk descending), tombstones included. */
  history(query: HistoryQuery): Promise<VersionRecord[]>;

  readonly kv: KeyValueStore;
  readonly blobs: BlobStore;
}

/**
 * Small server state that must be shared by every replica (signing keys, used
 * jti values, authorization codes, refresh tokens, sessions). Never kept only in
 * one process's memory.
 */
export interface KeyValueStore {
  get<T>(ns: string, key: string): Promise<T | undefined>;
  put<T>(ns: string, key: string, value: T, options?: { expiresAt?: number }): Promise<void>;
  /** Stores only when absent (or expired). False when present: replay and single-use checks. */
  putIfAbsent<T>(ns: string, key: string, value: T, options?: { expiresAt?: number }): Promise<boolean>;
  /** Atomically reads and deletes (single-use values such as authorization codes). */
  take<T>(ns: string, key: string): Promise<T | undefined>;
  delete(ns: string, key: string): Promise<void>;
  /**
   * Deletes only while the live value is `value` (as JSON): who releases a
   * lease never removes the one another holder took after it expired. True
   * when it deleted.
   */
  deleteIf<T>(ns: string, key: string, value: T): Promise<boolean>;
  list<T>(ns: string): Promise<Array<{ key: string; value: T }>>;
  /**
   * Whether a live (unexpired) value is stored, answered without waiting: only
   * engines that hold the key-value store in memory offer it (the embedded
   * one). It agrees with `get`. Per-request checks use it to skip a promise
   * when they can, and `get` otherwise.
   */
  hasNow?(ns: string, key: string): boolean;
}

export interface BlobInfo {
  key: string;
  size: number;
  /** SHA-1 of the bytes, base64 (what MHD's attachment.hash carries). */
  sha1: string;
}

/** Raw bytes (Binary content) kept out of the resource records and streamed. */
export interface BlobStore {
  /**
   * Streams `source` into a new blob. Rejects with PayloadTooLargeError as soon
   * as more than `maxBytes` arrive, leaving nothing behind. The blob is durable
   * when the promise resolves.
   */
  put(source: AsyncIterable<Uint8Array>, options: { maxBytes: number }): Promise<BlobInfo>;
  /** Undefined when unknown. */
  open(key: string): Promise<{ info: BlobInfo; stream: Readable } | undefined>;
  /**
   * The bytes from `start` to `end`, both included (0 <= start <= end < size),
   * read from `start` on: a client resuming a download at 19 MiB never makes
   * the store read the first 19. Undefined when unknown.
   */
  openRange(key: string, start: number, end: number): Promise<Readable | undefined>;
  delete(key: string): Promise<void>;
}

/**
 * Whether a failed write may have been stored all the same: the store could
 * not tell (on MongoDB, a commit no majority acknowledged in time, or whose
 * result is unknown, is a 503 and may still be applied). The bytes of its
 * Binaries are then kept: an orphaned blob costs space, a Binary without its
 * bytes loses a document.
 */
export function mayHaveLanded(err: unknown): boolean {
  return err instanceof FhirError && err.code === 'FHIR_ERR_STORE_UNAVAILABLE';
}
