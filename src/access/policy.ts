import type { Principal } from '../auth/principal.js';
import type { Interaction } from '../auth/scopes.js';
import { scopeAllows } from '../auth/scopes.js';

/** What is being attempted, as the policy sees it. */
export interface AccessRequest {
  principal: Principal;
  action: Interaction;
  resourceType: string;
  /** Patient compartments of the resource concerned, when known ('Patient/123'). */
  compartments?: string[];
}

export interface Decision {
  allow: boolean;
  /** The rule that decided, named so that the caller and the audit can tell why. */
  rule: string;
  reason: string;
}

/**
 * The one policy decision point. Denies by default: a request is allowed only
 * when a rule below grants it. Rules are checked in order; the first that
 * decides wins.
 */
export function decide(request: AccessRequest): Decision {
  const { principal, action, resourceType } = request;
  if (principal.kind === 'system') {
    const grants = scopeAllows(principal.scopes, action, resourceType);
    if (grants.length) return { allow: true, rule: 'system-scope', reason: `granted by scope ${grants[0].raw}` };
    return { allow: false, rule: 'system-scope', reason: `no granted scope allows ${ACTION_NAMES[action]} on ${resourceType}` };
  }
  return { allow: false, rule: 'default-deny', reason: `no rule grants ${principal.kind} access yet` };
}

export const ACTION_NAMES: Record<Interaction, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };
