import { FhirError } from '../errors.js';
import { parseSearchRequest } from '../fhir/search/parse.js';
import { compileFilter } from '../store/filter.js';
import { InvalidScopeError } from './scopes.js';
import type { ResourceScope } from './scopes.js';

/**
 * Whether the access policy can enforce a v2 scope's search restriction
 * (`patient/Observation.rs?category=...`). The policy turns the restriction
 * into a filter on each resource (access/guard.ts, scopeQueryFilter): it is
 * parsed by the search parser, strictly, and compiled as it stands, so only
 * plain parameters of the scope's type can work there. A chain or `_has`
 * needs a sub-query (the compiler refuses it: a 500 on every request), and a
 * result parameter (`_count`, `_sort`, `_include`...) or an unknown or
 * malformed one is a 400 on every request. Such a scope is refused when it is
 * asked for (OAuth `invalid_scope`), never granted.
 *
 * A wildcard type's restriction applies to every type, so it may use only the
 * parameters every resource has (`_tag`, `_security`, `_lastUpdated`...).
 *
 * Throws InvalidScopeError naming the scope and the parameter.
 */
export function checkScopeRestriction(scope: ResourceScope): void {
  if (!scope.query?.length) return;
  const types = scope.resourceType === '*' ? [] : [scope.resourceType];
  for (const pair of scope.query) {
    const [name] = pair;
    const refuse = (why: string) => new InvalidScopeError(`Scope "${shorten(scope.raw)}" cannot be enforced: ${why}`);
    let clauses;
    try {
      // One parameter at a time, so that each must select resources by itself.
      ({ clauses } = parseSearchRequest(types, [pair], { strict: true, defaultCount: 1, maxCount: 1 }));
    } catch (err) {
      if (err instanceof FhirError) throw refuse(err.message);
      throw err;
    }
    const clause = clauses[0];
    if (clauses.length !== 1 || clause?.kind !== 'param') {
      throw refuse(`${shorten(name)} is not a plain search parameter of ${scope.resourceType === '*' ? 'every resource' : scope.resourceType} (no chains, _has, or result parameters such as _count, _sort, _include)`);
    }
    try {
      compileFilter({ clauses: [clause] });
    } catch {
      throw refuse(`${shorten(name)} cannot be tested on a resource`);
    }
  }
}

/** Checks every restricted scope of a request (see checkScopeRestriction). */
export function checkScopeRestrictions(scopes: readonly ResourceScope[]): void {
  for (const scope of scopes) checkScopeRestriction(scope);
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
