import type { VersionRecord } from '../engine.js';

/** Longer strings are rarely repeated (free text), and would only grow the pool. */
const MAX_LENGTH = 128;

/**
 * Shares one copy of each repeated string of the in-memory records (code
 * systems, codes, 'Patient/123' references, units). Every parsed request and
 * every replayed journal frame brings fresh copies of them; pooled, they cost
 * about a fifth less memory per stored resource.
 */
export class StringPool {
  private readonly pool = new Map<string, string>();

  /** Replaces, in place, the strings of `record`'s type, comp, idx and srt by pooled ones. */
  internRecord(record: VersionRecord): void {
    record.type = this.intern(record.type);
    const comp = record.comp;
    for (let i = 0; i < comp.length; i++) comp[i] = this.intern(comp[i]!);
    const idx = record.idx as Record<string, unknown[]>;
    for (const param in idx) this.internValues(idx[param]!);
    const srt = record.srt;
    for (const key in srt) {
      const v = srt[key];
      if (typeof v === 'string') srt[key] = this.intern(v);
    }
  }

  private internValues(values: unknown[]): void {
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
