import type { Subscription } from '@medplum/fhirtypes';
import { FhirError, UnprocessableError } from '../../errors.js';
import { isResourceType } from '../../fhir/resource-types.js';
import { parseSearchRequest } from '../../fhir/search/parse.js';
import { compileFilter } from '../../store/filter.js';
import type { Filter } from '../../store/engine.js';
import { queryPairs } from '../../store/repository.js';
import { endpointProblem, parseChannelHeader } from './endpoint.js';

export interface CompiledCriteria {
  type: string;
  /** Tested against each new version with mingo, like the search restriction. */
  filter: Filter;
}

/**
 * `Subscription.criteria` (`DocumentReference?patient=123&type=...`) through
 * the search parser and the one filter language, so a Subscription matches
 * exactly what the same search would. Chains and `_has` need other resources
 * at match time and are refused (422), as are unknown parameters.
 */
export function compileCriteria(criteria: unknown): CompiledCriteria {
  if (typeof criteria !== 'string' || criteria.length > 2000) throw criteriaError('Subscription.criteria is required: Type?param=value');
  const [type = '', query = ''] = criteria.split('?', 2);
  if (!isResourceType(type)) throw criteriaError(`Subscription.criteria names no known resource type (${type.slice(0, 60)})`);
  // The access history is never matched (subscription-service.ts onCommit): it is materialised in the
  // background, in batches, apart from the writes Subscriptions watch (audit/audit-trail.ts).
  if (type === 'AuditEvent') throw criteriaError('Subscription.criteria: AuditEvent is not a search this server can match on each write (the access history is read with GET /fhir/AuditEvent)');
  let request;
  try {
    request = parseSearchRequest([type], queryPairs(query).filter(([k]) => !['_count', '_sort', '_summary', '_elements', '_format'].includes(k)), { strict: true, defaultCount: 1, maxCount: 1 });
  } catch (err) {
    if (err instanceof FhirError) throw criteriaError(`Subscription.criteria: ${err.message}`);
    throw err;
  }
  if (request.clauses.some((c) => c.kind !== 'param')) throw criteriaError('Subscription.criteria may not use chained parameters or _has');
  if (request.include?.length || request.revinclude?.length) throw criteriaError('Subscription.criteria may not use _include or _revinclude');
  return { type, filter: compileFilter(request) };
}

/** The channel types this server delivers to. */
export const CHANNEL_TYPES: ReadonlySet<string> = new Set(['rest-hook', 'websocket']);

export interface AcceptOptions {
  /** SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: http and non-public endpoints are accepted (endpoint.ts). */
  allowPrivateEndpoints: boolean;
}

/**
 * Checks a Subscription a client writes, whichever way it comes (POST, PUT,
 * PATCH, conditional create or update: routes/subscriptions.ts); returns it
 * with the status the server gives it.
 */
export function acceptSubscription(subscription: Subscription, options: AcceptOptions): Subscription {
  compileCriteria(subscription.criteria);
  const channel: unknown = subscription.channel;
  const type = channel && typeof channel === 'object' ? (channel as Subscription['channel']).type : undefined;
  if (typeof type !== 'string' || !CHANNEL_TYPES.has(type)) {
    throw channelError('Subscription.channel.type must be rest-hook or websocket', 'Subscription.channel.type');
  }
  if (type === 'rest-hook') {
    const problem = endpointProblem(subscription.channel.endpoint, options.allowPrivateEndpoints);
    if (problem) throw channelError(problem, 'Subscription.channel.endpoint');
    const headers: unknown = subscription.channel.header ?? [];
    if (!Array.isArray(headers) || headers.some((h) => !parseChannelHeader(h))) {
      throw channelError('Each Subscription.channel.header is "Name: value" in printable ASCII, and not one the server sets itself (Host, Content-Length, Transfer-Encoding, Connection...)', 'Subscription.channel.header');
    }
  }
  // The server activates what it accepts (R4: requested -> active); off stays off.
  const status = subscription.status === 'off' ? 'off' : 'active';
  const { error: _error, ...rest } = subscription;
  return { ...rest, status };
}

function channelError(message: string, expression: string): FhirError {
  return new UnprocessableError('FHIR_ERR_SUBSCRIPTION_CHANNEL', message, { expression: [expression] });
}

function criteriaError(message: string): FhirError {
  return new UnprocessableError('FHIR_ERR_SUBSCRIPTION_CRITERIA', message, { expression: ['Subscription.criteria'] });
}
