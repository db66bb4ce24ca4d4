import type { Filter, HistoryQuery, VersionRecord } from '../engine.js';
import { SecondaryIndex } from './secondary-index.js';
import { StringPool } from './string-pool.js';

/** Where a version lives: its journal frame and its position in that batch. */
export interface VersionRef {
  hk: string;
  ts: number;
  vid: number;
  resource: ResourceState;
  frame: number;
  slot: number;
}

/** Everything kept in memory for one (type, id). */
export interface ResourceState {
  /** The newest version, json included (reads serve its text as-is); a tombstone when deleted. */
  current: VersionRecord;
  /** Every version, oldest first; only the newest is held whole, older ones are read from the journal. */
  versions: VersionRef[];
  /** Its number in its type's secondary index (-1 until indexed). */
  ordinal: number;
}

/**
 * The published state of the embedded store: current versions by type and
 * id, history keys in order, and the secondary index. Only durable versions
 * enter it (see EmbeddedEngine.commit).
 */
export class ResourceTable {
  private readonly byType = new Map<string, Map<string, ResourceState>>();
  private readonly historyAll: VersionRef[] = [];
  private readonly historyByType = new Map<string, VersionRef[]>();
  /**
   * One secondary index per type: a patient's postings for Observation then
   * hold Observations only, not the AuditEvents that pile up in the same
   * compartment with every access.
   */
  private readonly indexes = new Map<string, SecondaryIndex<ResourceState>>();
  private readonly strings = new StringPool();

  get(type: string, id: string): ResourceState | undefined {
    return this.byType.get(type)?.get(id);
  }

  types(): string[] {
    return [...this.byType.keys()];
  }

  /** Publishes a durable version found at `slot` of the journal frame at `frame`. */
  apply(record: VersionRecord, frame: number, slot: number): void {
    this.strings.internRecord(record);
    let ids = this.byType.get(record.type);
    if (!ids) this.byType.set(record.type, (ids = new Map()));
    let index = this.indexes.get(record.type);
    if (!index) this.indexes.set(record.type, (index = new SecondaryIndex()));
    let state = ids.get(record.id);
    if (state) {
      if (!state.current.deleted) index.remove(state, state.current);
      state.current = record;
    } else {
      state = { current: record, versions: [], ordinal: -1 };
      ids.set(record.id, state);
    }
    if (!record.deleted) index.add(state, record);
    const ref: VersionRef = { hk: record.hk, ts: record.ts, vid: record.vid, resource: state, frame, slot };
    insertByKey(state.versions, ref, (r) => r.vid);
    insertByKey(this.historyAll, ref, (r) => r.hk);
    let typed = this.historyByType.get(record.type);
    if (!typed) this.historyByType.set(record.type, (typed = []));
    insertByKey(typed, ref, (r) => r.hk);
  }

  /**
   * Current non-deleted versions of `types` (all types when empty) that
   * `filter` matches: per type, the narrowing its index offers (or every
   * state of the type when the filter gives the index no handle), each tested
   * with `test` unless the narrowing is already exact.
   */
  matching(types: string[], filter: Filter, test: ((record: VersionRecord) => boolean) | undefined): VersionRecord[] {
    const out: VersionRecord[] = [];
    for (const type of types.length > 0 ? new Set(types) : this.byType.keys()) {
      const states = this.byType.get(type);
      if (!states) continue;
      const narrowing = this.indexes.get(type)?.narrow(filter, (ids) => this.byIds([type], ids));
      const check = narrowing?.exact ? undefined : test;
      for (const state of narrowing ? narrowing.items : states.values()) {
        const current = state.current;
        if (!current.deleted && (!check || check(current))) out.push(current);
      }
    }
    return out;
  }

  /** States for `id` conditions, across the given types (all when empty). */
  byIds(types: string[], ids: string[]): ResourceState[] {
    const out: ResourceState[] = [];
    for (const type of types.length > 0 ? types : this.byType.keys()) {
      const map = this.byType.get(type);
      if (!map) continue;
      for (const id of ids) {
        const state = map.get(id);
        if (state && !state.current.deleted) out.push(state);
      }
    }
    return out;
  }

  /** Version references newest first (hk descending), bounded by the query. */
  history(query: HistoryQuery): VersionRef[] {
    let refs: VersionRef[];
    if (query.id !== undefined) {
      if (query.type === undefined) throw new Error('history by id needs a type');
      refs = [...(this.get(query.type, query.id)?.versions ?? [])].sort((a, b) => compareKeys(a.hk, b.hk));
    } else {
      refs = query.type !== undefined ? (this.historyByType.get(query.type) ?? []) : this.historyAll;
    }
    let end = refs.length;
    if (query.afterKey !== undefined) {
      // First index whose hk >= afterKey: everything before it is strictly older.
      let lo = 0;
      let hi = refs.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (refs[mid]!.hk < query.afterKey) lo = mid + 1;
        else hi = mid;
      }
      end = lo;
    }
    const out: VersionRef[] = [];
    for (let i = end - 1; i >= 0 && out.length < query.limit; i--) {
      const ref = refs[i]!;
      if (query.since !== undefined && ref.ts < query.since) continue;
      if (query.at !== undefined && ref.ts > query.at) continue;
      out.push(ref);
    }
    return out;
  }
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Keeps `list` sorted by `key`; writes arrive nearly in order, so this is almost always a push. */
function insertByKey<K extends string | number>(list: VersionRef[], ref: VersionRef, key: (r: VersionRef) => K): void {
  const k = key(ref);
  if (list.length === 0 || key(list[list.length - 1]!) <= k) {
    list.push(ref);
    return;
  }
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(list[mid]!) <= k) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, ref);
}
