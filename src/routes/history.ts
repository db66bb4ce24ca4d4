import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError } from '../errors.js';
import { auditSearch, authorize, everyTypeProbe, isReadable, principalOf } from '../access/guard.js';
import { disclosedAll } from '../access/hidden-references.js';
import { bundleText, historyEntry } from '../fhir/bundle-text.js';
import { parseInstant, parsePeriod } from '../fhir/instant.js';
import { checkTypeAndId } from '../store/repository.js';
import type { VersionRecord } from '../store/engine.js';
import { responseType } from './respond.js';

interface HistoryQuerystring { _since?: string; _at?: string; _count?: string; _cursor?: string }

/**
 * History of an instance, a type and the whole system
 * (https://hl7.org/fhir/R4/http.html#history), newest first, paged by cursor.
 */
export const historyRoutes: FastifyPluginAsync = async (app) => {
  const { repository, config } = app;

  async function sendHistory(request: FastifyRequest<{ Querystring: HistoryQuerystring }>, path: string, scope: { type?: string; id?: string }) {
    const q = singleValues(request.query);
    const count = parseCount(q._count, config.searchDefaultCount, config.searchMaxCount);
    const since = q._since !== undefined ? parseInstant(q._since, '_since') : undefined;
    const at = q._at !== undefined ? parsePeriod(q._at, '_at') : undefined;
    const page = await repository.history({ ...scope, since, at, count, cursor: q._cursor });
    // Each version passes the policy like a read of it would (vread: under its resource's current
    // labels too); refused ones are left out. SMART v2 puts an instance's history under `r`, a
    // type's and the system's under `s` (scopes-and-launch-context.html).
    const action = scope.id ? 'r' : 's';
    const visible: VersionRecord[] = [];
    for (const r of page.records) if (await isReadable(request, r, { history: true, action })) visible.push(r);
    auditSearch(request, scope.type ?? '*', visible.flatMap((r) => r.comp), scope.id ? 'history-instance' : scope.type ? 'history-type' : 'history-system');
    const params = new URLSearchParams();
    if (q._since !== undefined) params.set('_since', q._since);
    if (q._at !== undefined) params.set('_at', q._at);
    params.set('_count', String(count));
    const self = `${config.fhirBase}${path}?${params}${q._cursor ? `&_cursor=${encodeURIComponent(q._cursor)}` : ''}`;
    const link = [{ relation: 'self', url: self }];
    if (page.next) link.push({ relation: 'next', url: `${config.fhirBase}${path}?${params}&_cursor=${encodeURIComponent(page.next)}` });
    return bundleText('history', {
      id: randomUUID(), timestamp: new Date().toISOString(), link,
      entries: (await disclosedAll(request, visible)).map((r) => historyEntry(r, config.fhirBase)),
    });
  }

  app.get<{ Querystring: HistoryQuerystring }>('/_history', async (request, reply) => {
    responseType(request);
    await authorize(request, 's', 'history-system', { resourceType: everyTypeProbe(principalOf(request)) }, { precheck: true });
    const body = await sendHistory(request, '/_history', {});
    return reply.type(responseType(request)).send(body);
  });

  const typeHistory = (fixedType?: string) => async (request: FastifyRequest<{ Params: { type?: string }; Querystring: HistoryQuerystring }>, reply: FastifyReply) => {
    const type = fixedType ?? request.params.type ?? '';
    responseType(request);
    checkTypeAndId(type, 'x');
    await authorize(request, 's', 'history-type', { resourceType: type }, { precheck: true });
    const body = await sendHistory(request, `/${type}/_history`, { type });
    return reply.type(responseType(request)).send(body);
  };
  app.get('/:type/_history', typeHistory());
  // Binary's own routes (binary.ts) have /Binary/:id, which the router prefers for /Binary/_history.
  app.get('/Binary/_history', typeHistory('Binary'));

  app.get<{ Params: { type: string; id: string }; Querystring: HistoryQuerystring }>('/:type/:id/_history', async (request, reply) => {
    const { type, id } = request.params;
    responseType(request);
    checkTypeAndId(type, id);
    await authorize(request, 'r', 'history-instance', { resourceType: type, id }, { precheck: true });
    const body = await sendHistory(request, `/${type}/${id}/_history`, { type, id });
    return reply.type(responseType(request)).send(body);
  });
};

/**
 * History's parameters, each given once: a repeated one has no meaning here
 * (two `_at` periods, two cursors) and is a 400 naming it.
 */
function singleValues(query: HistoryQuerystring): HistoryQuerystring {
  for (const name of HISTORY_PARAMS) {
    if (Array.isArray(query[name])) throw new BadRequestError('FHIR_ERR_REST_REPEATED_PARAM', `${name} may be given once in a history request`, { expression: [name] });
  }
  return query;
}

const HISTORY_PARAMS = ['_since', '_at', '_count', '_cursor'] as const;

/** `_count`: a non-negative integer, capped at the configured maximum. */
export function parseCount(value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,9}$/.test(value)) throw new BadRequestError('FHIR_ERR_SEARCH_BAD_COUNT', `_count must be a non-negative integer, not "${value.slice(0, 40)}"`, { expression: ['_count'] });
  return Math.min(Number(value), max);
}
