import type { FastifyRequest } from 'fastify';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import type { Principal } from '../auth/principal.js';
import type { Interaction } from '../auth/scopes.js';
import type { Filter } from '../store/engine.js';
import type { Decision } from './policy.js';
import { ACTION_NAMES, decide } from './policy.js';

export interface Target {
  resourceType: string;
  id?: string;
  compartments?: string[];
}

/**
 * Asks the policy about one access, audits the decision and throws 403 (naming
 * the rule) when refused. Every route goes through here: no route reads the
 * principal's scopes itself.
 */
export function authorize(request: FastifyRequest, action: Interaction, interaction: string, target: Target, options: { precheck?: boolean } = {}): Decision {
  const principal = principalOf(request);
  const decision = decide({ principal, action, resourceType: target.resourceType, compartments: target.compartments });
  // A precheck (before the resource is loaded) audits only refusals: the final check audits the access itself.
  if (!options.precheck || !decision.allow) request.server.audit.record({
    principal, action, interaction, resourceType: target.resourceType, id: target.id,
    compartments: target.compartments ?? [], allowed: decision.allow, rule: decision.rule, reason: decision.reason,
    requestId: request.id, address: request.ip,
  });
  if (!decision.allow) throw new ForbiddenError(`Access refused (rule ${decision.rule}): ${decision.reason}`, decision.rule);
  return decision;
}

/**
 * The policy as a search restriction: a filter AND'ed into every query of a
 * type (matches, _include, counts), or null when the type is not visible at
 * all. Search then never returns what a read would refuse.
 */
export function searchRestriction(request: FastifyRequest): (type: string) => Filter | null {
  const principal = principalOf(request);
  return (type) => (decide({ principal, action: 's', resourceType: type }).allow ? {} : null);
}

/** Audits a search once, naming every patient whose data it returned. */
export function auditSearch(request: FastifyRequest, resourceType: string, compartments: Iterable<string>): void {
  const principal = principalOf(request);
  request.server.audit.record({
    principal, action: 's', interaction: 'search-type', resourceType, compartments: [...new Set(compartments)],
    allowed: true, rule: 'search', reason: `${ACTION_NAMES.s} results filtered by policy`, requestId: request.id, address: request.ip,
  });
}

export function principalOf(request: FastifyRequest): Principal {
  const principal = (request as FastifyRequest & { principal?: Principal | null }).principal;
  if (!principal) throw new UnauthorizedError();
  return principal;
}
