import { FhirError } from '../errors.js';
import { isResourceType } from '../fhir/resource-types.js';

/**
 * SMART scopes, v1 and v2 (SMART App Launch 2.2, "Scopes and Launch Context").
 * A resource scope is `(patient|user|system)/(Type|*).<permissions>[?param=value&...]`
 * where v2 permissions are a non-empty subsequence of `cruds` in that order and
 * v1 permissions are `read` (= rs), `write` (= cud) or `*` (= cruds).
 */
export type ScopeContext = 'patient' | 'user' | 'system';
export type Interaction = 'c' | 'r' | 'u' | 'd' | 's';

export interface ResourceScope {
  context: ScopeContext;
  /** A resource type name, or '*' for every type. */
  resourceType: string;
  interactions: Set<Interaction>;
  /** `?param=value&...` restriction, in the order written; absent when unrestricted. */
  query?: Array<[string, string]>;
  /** The scope as written by the client, or its canonical v2 form once narrowed. */
  raw: string;
}

/** Non-resource scopes the server understands. */
export const SPECIAL_SCOPES = ['launch', 'launch/patient', 'openid', 'fhirUser', 'offline_access', 'online_access'] as const;
export type SpecialScope = (typeof SPECIAL_SCOPES)[number];

export interface ParsedScopes {
  resources: ResourceScope[];
  special: Set<SpecialScope>;
  /**
   * Well-formed scopes this server does not grant (`profile`, `launch/encounter`...).
   * They are never granted; SMART lets a server grant less than asked.
   */
  ignored: string[];
}

/** Thrown for a scope that is malformed or names an unknown resource type (OAuth `invalid_scope`). */
export class InvalidScopeError extends FhirError {
  constructor(message: string) {
    super('FHIR_ERR_AUTH_SCOPE', 400, 'invalid', message);
  }
}

const INTERACTION_ORDER: readonly Interaction[] = ['c', 'r', 'u', 'd', 's'];
const V1_PERMISSIONS: Readonly<Record<string, readonly Interaction[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};
const RESOURCE_SCOPE = /^(patient|user|system)\/([A-Za-z]+|\*)\.([a-z*]+)(?:\?(.*))?$/;
const V2_PERMISSIONS = /^c?r?u?d?s?$/;
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/; // RFC 6749 scope-token characters
const isSpecial = (s: string): s is SpecialScope => (SPECIAL_SCOPES as readonly string[]).includes(s);

const resourceScopesByText = new Map<string, ResourceScope[]>();

/**
 * The resource scopes of a granted scope string, parsed once per distinct
 * string (tokens and consents repeat them) and shared: callers must not change
 * the list. The same list object also keys scopeAllows' answers.
 */
export function grantedResourceScopes(scope: string): ResourceScope[] {
  let scopes = resourceScopesByText.get(scope);
  if (!scopes) {
    scopes = parseScopes(scope).resources;
    if (resourceScopesByText.size >= 1000) resourceScopesByText.clear();
    resourceScopesByText.set(scope, scopes);
  }
  return scopes;
}

/** Parses a space-separated scope string. Throws InvalidScopeError on the first bad scope. */
export function parseScopes(scope: string): ParsedScopes {
  const parsed: ParsedScopes = { resources: [], special: new Set(), ignored: [] };
  const seen = new Set<string>();
  for (const token of scope.split(/[ ]+/)) {
    if (token === '' || seen.has(token)) continue;
    seen.add(token);
    if (!SCOPE_TOKEN.test(token)) throw new InvalidScopeError(`Scope "${printable(token)}" contains characters a scope may not hold`);
    if (isSpecial(token)) parsed.special.add(token);
    else if (/^(patient|user|system)\//.test(token)) parsed.resources.push(parseResourceScope(token));
    else parsed.ignored.push(token);
  }
  return parsed;
}

export function parseResourceScope(raw: string): ResourceScope {
  const match = RESOURCE_SCOPE.exec(raw);
  if (!match) throw new InvalidScopeError(`Scope "${printable(raw)}" is not of the form context/Type.permissions`);
  const [, context, resourceType, permissions, queryText] = match as unknown as [string, ScopeContext, string, string, string | undefined];
  if (resourceType !== '*' && !isResourceType(resourceType)) {
    throw new InvalidScopeError(`Scope "${printable(raw)}" names an unknown resource type`);
  }
  let interactions: readonly Interaction[];
  if (V1_PERMISSIONS[permissions]) interactions = V1_PERMISSIONS[permissions];
  else if (permissions !== '' && V2_PERMISSIONS.test(permissions)) interactions = [...permissions] as Interaction[];
  else throw new InvalidScopeError(`Scope "${printable(raw)}" has permissions other than c, r, u, d, s in that order, read, write or *`);
  const scope: ResourceScope = { context, resourceType, interactions: new Set(interactions), raw };
  if (queryText !== undefined) scope.query = parseRestriction(raw, queryText);
  return scope;
}

function parseRestriction(raw: string, queryText: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const part of queryText.split('&')) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    if (eq <= 0 || eq === part.length - 1) throw new InvalidScopeError(`Scope "${printable(raw)}" has a restriction that is not param=value`);
    try {
      pairs.push([decodeURIComponent(name), decodeURIComponent(part.slice(eq + 1))]);
    } catch {
      throw new InvalidScopeError(`Scope "${printable(raw)}" has a badly encoded restriction`);
    }
  }
  return pairs;
}

/**
 * Answers of scopeAllows per granted scope list: a token's list is parsed once
 * and shared by its requests, and every request asks the same few questions.
 */
const grantsByScopes = new WeakMap<ResourceScope[], Map<string, readonly ResourceScope[]>[]>();
const ACTION_SLOT: Record<Interaction, number> = { c: 0, r: 1, u: 2, d: 3, s: 4 };

/** The scopes that grant `action` on `resourceType` (empty when none does). */
export function scopeAllows(scopes: ResourceScope[], action: Interaction, resourceType: string): readonly ResourceScope[] {
  let slots = grantsByScopes.get(scopes);
  if (!slots) grantsByScopes.set(scopes, (slots = [new Map(), new Map(), new Map(), new Map(), new Map()]));
  const answers = slots[ACTION_SLOT[action]]!;
  let grants = answers.get(resourceType);
  if (!grants) {
    grants = Object.freeze(scopes.filter((s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.interactions.has(action)));
    // Bounded, whatever type names callers send.
    if (answers.size < 500) answers.set(resourceType, grants);
  }
  return grants;
}

/**
 * What a client may get: each requested scope narrowed by each allowed scope of
 * the same context that overlaps it (type '*' matches any type, permissions are
 * intersected, restrictions add up). A requested `system/Observation.rs` under an
 * allowed `system/*.cruds` gives `system/Observation.rs`; a requested
 * `system/*.cruds` under an allowed `system/Observation.rs` gives the latter.
 */
export function intersectScopes(requested: ResourceScope[], allowed: ResourceScope[]): ResourceScope[] {
  const granted = new Map<string, ResourceScope>();
  for (const r of requested) {
    for (const a of allowed) {
      if (r.context !== a.context) continue;
      if (r.resourceType !== '*' && a.resourceType !== '*' && r.resourceType !== a.resourceType) continue;
      const interactions = new Set([...r.interactions].filter((i) => a.interactions.has(i)));
      if (interactions.size === 0) continue;
      const query = mergeRestrictions(r.query, a.query);
      const resourceType = r.resourceType === '*' ? a.resourceType : r.resourceType;
      const unchanged = resourceType === r.resourceType && interactions.size === r.interactions.size && query === r.query;
      const scope: ResourceScope = { context: r.context, resourceType, interactions, raw: '' };
      if (query) scope.query = query;
      scope.raw = unchanged ? r.raw : formatResourceScope(scope);
      const key = formatResourceScope(scope);
      if (!granted.has(key)) granted.set(key, scope);
    }
  }
  return withoutImplied([...granted.values()]);
}

/**
 * The scopes less those another one already grants (`patient/DocumentReference.rs`
 * beside `patient/*.rs`): they add nothing, and would only lengthen the token
 * and the consent page. Of two equivalent scopes the first stays.
 */
export function withoutImplied(scopes: ResourceScope[]): ResourceScope[] {
  return scopes.filter((s, i) => !scopes.some((o, j) => j !== i && scopeCovers(o, s) && (j < i || !scopeCovers(s, o))));
}

/**
 * Whether `wide` grants everything `narrow` does: same context, the same type
 * or '*', at least its interactions, and no restriction `narrow` lacks (each
 * of `wide`'s param=value pairs is also one of `narrow`'s, so every resource
 * `narrow` lets through passes `wide` too).
 */
export function scopeCovers(wide: ResourceScope, narrow: ResourceScope): boolean {
  if (wide.context !== narrow.context) return false;
  if (wide.resourceType !== '*' && wide.resourceType !== narrow.resourceType) return false;
  for (const i of narrow.interactions) if (!wide.interactions.has(i)) return false;
  return (wide.query ?? []).every(([n, v]) => narrow.query?.some(([m, w]) => m === n && w === v) ?? false);
}

/** Both restrictions apply; returns `requested` itself when `allowed` adds nothing. */
function mergeRestrictions(requested?: Array<[string, string]>, allowed?: Array<[string, string]>): Array<[string, string]> | undefined {
  if (!allowed) return requested;
  const merged = [...(requested ?? [])];
  for (const pair of allowed) if (!merged.some(([n, v]) => n === pair[0] && v === pair[1])) merged.push(pair);
  return merged.length === (requested?.length ?? -1) ? requested : merged;
}

/** Canonical v2 text of a resource scope. */
export function formatResourceScope(scope: Omit<ResourceScope, 'raw'>): string {
  const permissions = INTERACTION_ORDER.filter((i) => scope.interactions.has(i)).join('');
  const query = scope.query?.length
    ? '?' + scope.query.map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`).join('&')
    : '';
  return `${scope.context}/${scope.resourceType}.${permissions}${query}`;
}

/** The scope string granted: resource scopes as held in `raw`, then the special scopes. */
export function formatScopes(scopes: { resources: ResourceScope[]; special?: Iterable<SpecialScope> }): string {
  return [...scopes.resources.map((s) => s.raw), ...(scopes.special ?? [])].join(' ');
}

function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7E]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}
