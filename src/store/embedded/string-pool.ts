import type { VersionRecord } from '../engine.js';

/** Longer strings are rarely repeated (free text), and would only grow the pool. */
const MAX_LENGTH = 128;
/** Longer value lists are rarely repeated. */
const MAX_LIST_LENGTH = 4;
/**
 * Distinct lists pooled per parameter at most: a parameter whose lists keep
 * differing (an identifier, a request id) stops being pooled there, rather
 * than keeping a path for each of its values.
 */
const MAX_LISTS_PER_PARAM = 4096;

/**
 * Shares one copy of each repeated string of the in-memory records (code
 * systems, codes, 'Patient/123' references, units), and one copy of each
 * repeated short list of index values (a status, a category, a code, a
 * reference): every parsed request and every replayed journal frame brings
 * fresh copies of them. Pooled lists are about a seventh less memory per
 * stored Observation, and far fewer objects for the garbage collector to
 * walk. A pooled list is frozen, since every record that holds it shares it:
 * nothing may change a stored record's index in place.
 */
export class StringPool {
  private readonly pool = new Map<string, string>();
  /** Per parameter code: the pooled lists, as paths of (field, value) steps (see ListNode). */
  private readonly lists = new Map<string, { root: ListNode; size: number }>();

  /** Replaces, in place, the strings and lists of `record`'s type, comp, idx and srt by pooled ones. */
  internRecord(record: VersionRecord): void {
    record.type = this.intern(record.type);
    const comp = record.comp;
    for (let i = 0; i < comp.length; i++) comp[i] = this.intern(comp[i]!);
    const idx = record.idx as Record<string, unknown[]>;
    for (const param in idx) {
      const values = idx[param]!;
      const pooled = this.internList(param, values);
      if (pooled) idx[param] = pooled;
      else this.internValues(values);
    }
    const srt = record.srt;
    for (const key in srt) {
      const v = srt[key];
      if (typeof v === 'string') srt[key] = this.intern(v);
    }
  }

  /** The pooled equal of `values`, pooling them if there is room; undefined for lists not worth pooling. */
  private internList(param: string, values: unknown[]): unknown[] | undefined {
    if (values.length === 0 || values.length > MAX_LIST_LENGTH) return undefined;
    let lists = this.lists.get(param);
    if (!lists) this.lists.set(param, (lists = { root: {}, size: 0 }));
    const found = walk(lists.root, values, false);
    if (found === NOT_POOLABLE) return undefined;
    if (found?.list) return found.list;
    if (lists.size >= MAX_LISTS_PER_PARAM) return undefined;
    this.internValues(values);
    for (const value of values) Object.freeze(value);
    Object.freeze(values);
    (walk(lists.root, values, true) as ListNode).list = values;
    lists.size++;
    return values;
  }

  /**
   * Writes a pooled copy only where the string is another copy: the values of
   * a pooled list, frozen, hold pooled strings already, and the same value
   * object may sit in two lists of one record (an AuditEvent's entity and
   * patient), one pooled and one not.
   */
  private internValues(values: unknown[]): void {
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (typeof value === 'string') {
        const pooled = this.intern(value);
        if (pooled !== value) values[i] = pooled;
      } else if (Array.isArray(value)) this.internValues(value);
      else if (value !== null && typeof value === 'object') {
        const obj = value as Record<string, unknown>;
        for (const key in obj) {
          const v = obj[key];
          if (typeof v === 'string') {
            const pooled = this.intern(v);
            if (pooled !== v) obj[key] = pooled;
          } else if (Array.isArray(v)) this.internValues(v);
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

/**
 * A step of a pooled list's path: a list is the sequence of its values'
 * (field, value) pairs, each value closed by an `end` step. Two lists reach
 * the same node exactly when they hold the same values; the lookups use the
 * strings themselves (whose hashes V8 keeps), not a key built per list, and
 * a node's few field names are told apart by a scan.
 */
interface ListNode {
  next?: Array<{ field: string; byValue: Map<string, ListNode> }>;
  end?: ListNode;
  list?: unknown[];
}

const NOT_POOLABLE = Symbol('not poolable');

/**
 * The node of `values`' path (created on the way when `create`); undefined
 * when absent; NOT_POOLABLE unless every value is a flat object of short
 * strings (tokens, references, strings, URIs), the lists worth sharing.
 */
function walk(root: ListNode, values: unknown[], create: boolean): ListNode | undefined | typeof NOT_POOLABLE {
  let node: ListNode | undefined = root;
  for (const value of values) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return NOT_POOLABLE;
    const fields = value as Record<string, unknown>;
    for (const field in fields) {
      const v = fields[field];
      if (typeof v !== 'string' || v.length > MAX_LENGTH) return NOT_POOLABLE;
      if (node) node = step(node, field, v, create);
    }
    if (node) node = node.end ?? (create ? (node.end = {}) : undefined);
  }
  return node;
}

function step(node: ListNode, field: string, value: string, create: boolean): ListNode | undefined {
  let byValue: Map<string, ListNode> | undefined;
  const next = node.next;
  if (next) {
    for (let i = 0; i < next.length; i++) {
      if (next[i]!.field === field) {
        byValue = next[i]!.byValue;
        break;
      }
    }
  }
  if (!byValue) {
    if (!create) return undefined;
    (node.next ??= []).push({ field, byValue: (byValue = new Map()) });
  }
  let child = byValue.get(value);
  if (!child && create) byValue.set(value, (child = {}));
  return child;
}
