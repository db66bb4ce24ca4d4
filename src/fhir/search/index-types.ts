/**
 * Search index values, computed once at write time from the SearchParameter
 * expressions and stored beside each version (VersionRecord.idx). The field
 * names are short because they are repeated in every stored record and in
 * every MongoDB index.
 *
 * Filters (store/filter.ts) address them as `idx.<param code>.<field>`; each
 * parameter holds an array, so MongoDB multikey semantics apply: a condition on
 * one field matches when any value matches, $elemMatch ties several fields to
 * one value.
 */

/** token: Coding, CodeableConcept, Identifier, code, boolean, ContactPoint. */
export interface TokenIndex {
  /** system, absent when the value has none */
  s?: string;
  /** code (Identifier.value, ContactPoint.value, 'true'/'false' for booleans) */
  c?: string;
  /** `${system}|${code}` when both exist: the common equality lookup */
  sc?: string;
  /** folded display text (Coding.display, CodeableConcept.text, Identifier.type.text) for :text */
  t?: string;
  /** Identifier.type codings as system|code, for :of-type */
  ty?: string[];
}

/** reference: Reference, canonical, uri pointing at a resource. */
export interface ReferenceIndex {
  /** 'Type/id' for local references, the absolute URL otherwise, without `_history` */
  r?: string;
  /** resource type of the target when known */
  t?: string;
  /** id part of a local reference, for `patient=123` */
  i?: string;
  /** canonical version (`|1.0`) when present */
  v?: string;
  /** Reference.identifier, for :identifier */
  s?: string;
  c?: string;
}

/** string: folded for case and accents (`Hélène` -> `helene`), plus the exact text. */
export interface StringIndex {
  /** folded: lower case, accents removed, whitespace collapsed */
  f: string;
  /** exact text as written */
  x: string;
}

/** date: every value is a closed range in epoch milliseconds (precision widens it). */
export interface DateIndex {
  lo: number;
  hi: number;
}

/** number: value plus the range its precision implies (1.5 -> [1.45, 1.55)). */
export interface NumberIndex {
  n: number;
  lo: number;
  hi: number;
}

/** quantity: number fields plus units. */
export interface QuantityIndex extends NumberIndex {
  /** unit system */
  s?: string;
  /** unit code */
  c?: string;
  /** unit as displayed */
  u?: string;
}

/** uri */
export interface UriIndex {
  u: string;
}

/** composite: each component by its code, for `code-value-quantity` and friends. */
export type CompositeIndex = Record<string, IndexValue[]>;

export type IndexValue = TokenIndex | ReferenceIndex | StringIndex | DateIndex | NumberIndex | QuantityIndex | UriIndex | CompositeIndex;

/** Parameter code -> its values on one version. */
export type SearchIndex = Record<string, IndexValue[]>;

/**
 * Sort keys for `_sort`: `srt[code]` holds the lowest value of the parameter
 * (ascending sorts), `srt['-' + code]` the highest (descending sorts).
 */
export type SortKeys = Record<string, string | number>;
