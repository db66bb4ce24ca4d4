import type { FastifyRequest } from 'fastify';

const SYSTEM_LEVEL_READS = new Set(['/fhir', '/fhir/_history', '/fhir/_search']);
const WILDCARD_INCLUDE = /[?&]_(?:rev)?include(?::iterate)?=(?:\*|%2A)/i;

/**
 * Whether answering this FHIR request could show AuditEvents: the type named
 * anywhere in it (path, _type, _include, _has, a _search form), a system-level
 * search or history, or a wildcard include. Such requests wait for the audit
 * trail to settle first; a false positive only costs that wait.
 */
export function mayReadAuditEvents(request: FastifyRequest): boolean {
  const { url } = request;
  if (url.includes('AuditEvent')) return true;
  const q = url.indexOf('?');
  const raw = q < 0 ? url : url.slice(0, q);
  const path = raw.endsWith('/') ? raw.replace(/\/+$/, '') : raw;
  if (SYSTEM_LEVEL_READS.has(path) && (request.method === 'GET' || path.endsWith('/_search'))) return true;
  if (q >= 0 && WILDCARD_INCLUDE.test(url)) return true;
  if (path.endsWith('/_search') && request.body && typeof request.body === 'object') {
    const form = JSON.stringify(request.body);
    return form.includes('AuditEvent') || form.includes('"*"');
  }
  return false;
}

/** Waits for the audit trail to settle when the request could show AuditEvents (see above). */
export async function settleBeforeAuditReads(request: FastifyRequest): Promise<void> {
  if (mayReadAuditEvents(request)) await request.server.audit.settle();
}
