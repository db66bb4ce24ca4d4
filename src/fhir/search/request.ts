import type { SearchParamType } from './params.js';

/** Comparison prefixes of number, date and quantity values. */
export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

export interface TokenValue {
  kind: 'token';
  /** undefined: any system; null: the value must have no system (`|code`). */
  system?: string | null;
  code?: string;
}

/** `:text`: folded prefix of the text or display. */
export interface TokenTextValue { kind: 'token-text'; text: string }

/** `:in` / `:not-in`: an expanded value set. */
export interface TokenSetValue {
  kind: 'token-set';
  /** `system|code` pairs */
  codes: string[];
  /** systems included whole */
  systems: string[];
}

/** `:of-type`: identifier type + value. */
export interface OfTypeValue { kind: 'of-type'; type: string; value: string }

export interface ReferenceValue {
  kind: 'reference';
  /** `Type/id` or an absolute URL (without version) */
  ref?: string;
  /** bare id, any target type */
  id?: string;
  /** canonical version after `|` */
  version?: string;
}

/** `:identifier` on a reference. */
export interface ReferenceIdentifierValue { kind: 'reference-identifier'; system?: string | null; value?: string }

export interface StringValue { kind: 'string'; folded: string; exact: string }

/** Closed range in epoch ms. For `ap`, lo/hi are already widened. */
export interface DateValue { kind: 'date'; prefix: Prefix; lo: number; hi: number }

/** `lo`/`hi`: the implicit range of the written precision (or the `ap` tolerance). */
export interface NumberValue { kind: 'number'; prefix: Prefix; n: number; lo: number; hi: number }

export interface QuantityValue extends Omit<NumberValue, 'kind'> {
  kind: 'quantity';
  system?: string;
  code?: string;
}

export interface UriValue { kind: 'uri'; uri: string }

export interface CompositeValue { kind: 'composite'; parts: ParsedValue[] }

export type ParsedValue =
  | TokenValue | TokenTextValue | TokenSetValue | OfTypeValue | ReferenceValue | ReferenceIdentifierValue
  | StringValue | DateValue | NumberValue | QuantityValue | UriValue | CompositeValue;

/** A parameter tested on the searched resources' own index values. */
export interface ParamClause {
  kind: 'param';
  /** The parameter name as written (`code:not`), for the self link. */
  name: string;
  /** The value as written. */
  raw: string;
  code: string;
  type: SearchParamType;
  modifier?: string;
  /** `:missing=true|false` */
  missing?: boolean;
  /** Alternatives (comma = OR). */
  values: ParsedValue[];
}

/** `ref.param=x`: `code` must point at a resource of `targets` that matches `next`. */
export interface ChainClause {
  kind: 'chain';
  name: string;
  raw: string;
  code: string;
  targets: string[];
  next: SearchClause;
}

/** `_has:Type:ref:param=x`: some `type` resource pointing here through `ref` matches `next`. */
export interface HasClause {
  kind: 'has';
  name: string;
  raw: string;
  type: string;
  ref: string;
  next: SearchClause;
}

/** A chain or `_has` once the executor ran its sub-query: the references or ids found. */
export interface ResolvedClause {
  kind: 'resolved';
  name: string;
  raw: string;
  /** `_id` for `_has`, else the reference parameter */
  code: string;
  values: string[];
}

export type SearchClause = ParamClause | ChainClause | HasClause | ResolvedClause;

export interface SortRule {
  code: string;
  descending: boolean;
}

export interface IncludeRule {
  /** Source type (`*` for a wildcard `_include=*`). */
  type: string;
  /** Reference parameter code (`*` for every reference parameter). */
  code: string;
  target?: string;
  iterate: boolean;
  /** As written, for the self link. */
  raw: string;
}

export type TotalMode = 'none' | 'estimate' | 'accurate';
export type SummaryMode = 'true' | 'text' | 'data' | 'count' | 'false';

export interface SearchRequest {
  /** Resource types searched (several for a system-level search with `_type`). */
  types: string[];
  /** All must hold (repeated parameters are AND). */
  clauses: SearchClause[];
  /** Parameter names we do not support (ignored unless strict). */
  unknown: string[];
  count: number;
  sort: SortRule[];
  total?: TotalMode;
  summary?: SummaryMode;
  elements?: string[];
  include: IncludeRule[];
  revinclude: IncludeRule[];
  /** Opaque page token from a previous answer's links. */
  cursor?: string;
  /** The server base, for absolute references in values (`<base>/Patient/1`). */
  baseUrl?: string;
}
