import type { Subscription } from '@medplum/fhirtypes';
import { FhirError, UnprocessableError } from '../../errors.js';
import { isResourceType } from '../../fhir/resource-types.js';
import { parseSearchRequest } from '../../fhir/search/parse.js';
import { compileFilter } from '../../store/filter.js';
import type { Filter } from '../../store/engine.js';
import { queryPairs } from '../../store/repository.js';

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

/** Checks a Subscription a client submits; returns it with the status the server gives it. */
export function acceptSubscription(subscription: Subscription): Subscription {
  compileCriteria(subscription.criteria);
  const channel = subscription.channel;
  if (!channel || !CHANNEL_TYPES.has(channel.type)) {
    throw new UnprocessableError('FHIR_ERR_SUBSCRIPTION_CHANNEL', 'Subscription.channel.type must be rest-hook or websocket', { expression: ['Subscription.channel.type'] });
  }
  if (channel.type === 'rest-hook') {
    let url: URL | undefined;
    try {
      url = new URL(channel.endpoint ?? '');
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new UnprocessableError('FHIR_ERR_SUBSCRIPTION_CHANNEL', 'A rest-hook Subscription needs an http(s) channel.endpoint', { expression: ['Subscription.channel.endpoint'] });
    }
    if ((channel.header ?? []).some((h) => typeof h !== 'string' || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+:[^\r\n]*$/.test(h))) {
      throw new UnprocessableError('FHIR_ERR_SUBSCRIPTION_CHANNEL', 'Each Subscription.channel.header is "Name: value"', { expression: ['Subscription.channel.header'] });
    }
  }
  // The server activates what it accepts (R4: requested -> active); off stays off.
  const status = subscription.status === 'off' ? 'off' : 'active';
  const { error: _error, ...rest } = subscription;
  return { ...rest, status };
}

function criteriaError(message: string): FhirError {
  return new UnprocessableError('FHIR_ERR_SUBSCRIPTION_CRITERIA', message, { expression: ['Subscription.criteria'] });
}
