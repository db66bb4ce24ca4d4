import type { SortKeys } from '../../fhir/search/index-types.js';
import type { VersionRecord } from '../engine.js';

/** Longer strings are rarely repeated (free text), and would only grow the pool. */
const MAX_LENGTH = 128;
/** From this many sort keys on, they are copied into a compact object (see compactSortKeys). */
const COMPACT_FROM_KEYS = 20;
/** Distinct lists of sort keys given a compact shape at most. */
const MAX_SHAPES = 1024;

/**
 * Shares one copy of each repeated string of the in-memory records (code
 * systems, codes, 'Patient/123' references, units). Every parsed request and
 * every replayed journal frame brings fresh copies of them; pooled, they cost
 * about a fifth less memory per stored resource. Records with many sort keys
 * also get them in a compact object (see compactSortKeys).
 */
export class StringPool {
  private readonly pool = new Map<string, string>();
  /** Per list of sort keys (see compactSortKeys): an object with those keys, to copy. */
  private readonly shapes = new Map<string, SortKeys>();

  /** Replaces, in place, the strings of `record`'s type, comp, idx and srt by pooled ones. */
  internRecord(record: VersionRecord): void {
    record.type = this.intern(record.type);
    const comp = record.comp;
    // Frozen lists and values are shared by many versions (SharedIndexValues), already interned where they were first met.
    if (!Object.isFrozen(comp)) for (let i = 0; i < comp.length; i++) comp[i] = this.intern(comp[i]!);
    const idx = record.idx as Record<string, unknown[]>;
    for (const param in idx) this.internValues(idx[param]!);
    const srt = record.srt;
    let keys = 0;
    for (const key in srt) {
      const v = srt[key];
      if (typeof v === 'string') srt[key] = this.intern(v);
      keys++;
    }
    if (keys >= COMPACT_FROM_KEYS) record.srt = this.compactSortKeys(srt);
  }

  /**
   * `srt` as an object V8 keeps compact. Sort keys are added one by one under
   * computed names, and from twenty of them on (an AuditEvent has 22) V8 turns
   * such an object into a hash table: 1,664 bytes per AuditEvent, against 240
   * for a copy of an object parsed from JSON with the same keys (measured).
   */
  private compactSortKeys(srt: SortKeys): SortKeys {
    let signature = '';
    for (const key in srt) signature += `${key}\n`;
    let shape = this.shapes.get(signature);
    if (!shape) {
      if (this.shapes.size >= MAX_SHAPES) return srt;
      shape = JSON.parse(`{${Object.keys(srt).map((key) => `${JSON.stringify(key)}:null`).join(',')}}`) as SortKeys;
      this.shapes.set(signature, shape);
    }
    const compact = { ...shape };
    for (const key in srt) compact[key] = srt[key]!;
    return compact;
  }

  private internValues(values: unknown[]): void {
    if (Object.isFrozen(values)) return;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (typeof value === 'string') values[i] = this.intern(value);
      else if (Array.isArray(value)) this.internValues(value);
      else if (value !== null && typeof value === 'object') {
        const obj = value as Record<string, unknown>;
        for (const key in obj) {
          const v = obj[key];
          if (typeof v === 'string') obj[key] = this.intern(v);
          else if (Array.isArray(v)) this.internValues(v);
        }
      }
    }
  }

  private intern(s: string): string {
    if (s.length > MAX_LENGTH) return s;
    const pooled = this.pool.get(s);
    if (pooled !== undefined) return pooled;
    this.pool.set(s, s);
    return s;
  }
}
