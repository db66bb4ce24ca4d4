import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { BundleLink, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { BadRequestError, FhirError, UnsupportedMediaTypeError } from '../errors.js';
import { auditSearch, authorize } from '../access/guard.js';
import { disclosedAll } from '../access/hidden-references.js';
import { conditionalRestriction } from '../access/hidden-names.js';
import { checkMhdConsumerSearch } from '../space/documents/mhd-search.js';
import { bundleText } from '../fhir/bundle-text.js';
import type { EntryText } from '../fhir/bundle-text.js';
import type { SearchRequest } from '../fhir/search/parse.js';
import { applyElements, applySummary } from '../fhir/summary.js';
import type { Filter, VersionRecord } from '../store/engine.js';
import { checkTypeAndId, queryPairs } from '../store/repository.js';
import { formatSearchQuery, INCLUDE_LIMIT } from '../store/search-executor.js';
import { parsePrefer, responseType } from './respond.js';
import { settleBeforeAuditReads } from '../audit/audit-reads.js';

/**
 * Search (https://hl7.org/fhir/R4/search.html): `GET [type]?...`,
 * `POST [type]/_search` (form body; GET and POST give the same answer) and the
 * system level `GET [base]?_type=...`. Every entry, `_include`d ones and the
 * total included, passes the access policy through the search restriction.
 */
export const searchRoutes: FastifyPluginAsync = async (app) => {
  const { repository, config } = app;
  // In this scope only (the plugin is not wrapped with fp): `_search` reads a form and nothing else.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(FORM, { parseAs: 'buffer' }, (_request, body: Buffer, done) => {
    try {
      done(null, parseSearchForm(body));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  // FHIR's `_search` takes application/x-www-form-urlencoded (http.html#search): a JSON object of
  // parameters is no form, and taking it for one answered a search nobody asked for.
  app.addContentTypeParser('*', (_request, _payload, done) => {
    done(new UnsupportedMediaTypeError(`POST _search takes ${FORM}`), undefined);
  });

  async function search(request: FastifyRequest, types: string[], path: string, compartment?: string): Promise<string> {
    responseType(request);
    const pairs = requestPairs(request);
    checkMhdConsumerSearch(request.headers, types, pairs, compartment);
    const strict = parsePrefer(request.headers.prefer).handling === 'strict';
    const parsed = repository.parseSearch(types, pairs, strict);
    for (const type of types) await authorize(request, 's', 'search-type', { resourceType: type }, { precheck: true });
    // The restriction conditional interactions use too: the policy's filter per type, and the query
    // revised to tell nothing hidden (access/hidden-names.ts). The revision only reads, so that it runs
    // after the restriction is built (which may refuse an emergency search) changes no answer or audit.
    const restriction = await conditionalRestriction(request);
    await restriction.reviseQuery(parsed);
    // A compartment search is the same search, within the compartment: the policy's filter still applies.
    const restrict = compartment ? inCompartment(restriction, compartment) : restriction;
    const result = await repository.search(parsed, restrict);
    auditSearch(request, types.length === 1 ? types[0] : '*', [...result.matches, ...result.included].flatMap((r) => r.comp));
    const [matches, included] = [await disclosedAll(request, result.matches), await disclosedAll(request, result.included)];
    const links = linksFor(path, types, parsed, result.next, result.previous);
    return searchBundle(parsed, matches, included, result.total, links, warningsFor(parsed, result.includesIncomplete));
  }

  /** `pathTypes`: the types `path` names, so that the links carry `_type` when the search narrowed them (system level, `*`). */
  function linksFor(path: string, pathTypes: string[], parsed: SearchRequest, next?: string, previous?: string): BundleLink[] {
    const base = formatSearchQuery(parsed, pathTypes).filter(([k]) => k !== '_cursor');
    const url = (cursor?: string) => {
      const params = new URLSearchParams(cursor ? [...base, ['_cursor', cursor]] : base);
      return `${config.fhirBase}${path}${params.size ? `?${params}` : ''}`;
    };
    const links: BundleLink[] = [{ relation: 'self', url: url(parsed.cursor) }];
    if (next) links.push({ relation: 'next', url: url(next) });
    if (previous) links.push({ relation: 'previous', url: url(previous) });
    return links;
  }

  function searchBundle(parsed: SearchRequest, matches: VersionRecord[], included: VersionRecord[], total: number | undefined, link: BundleLink[], warnings: OperationOutcomeIssue[]): string {
    const entries: EntryText[] = [];
    if (parsed.summary !== 'count') {
      for (const r of matches) entries.push(entry(r, 'match', parsed));
      for (const r of included) entries.push(entry(r, 'include', parsed));
    }
    if (warnings.length) {
      entries.push({
        fullUrl: `urn:uuid:${randomUUID()}`,
        resource: JSON.stringify({ resourceType: 'OperationOutcome', issue: warnings }),
        search: { mode: 'outcome' },
      });
    }
    return bundleText('searchset', { id: randomUUID(), timestamp: new Date().toISOString(), total, link, entries });
  }

  function entry(record: VersionRecord, mode: 'match' | 'include', parsed: SearchRequest): EntryText {
    let resource = record.json;
    // Most searches send the stored text untouched; only _summary/_elements rebuild it.
    if ((parsed.summary && parsed.summary !== 'false') || parsed.elements?.length) {
      let shaped = JSON.parse(record.json) as Resource;
      if (parsed.summary && parsed.summary !== 'false' && parsed.summary !== 'count') shaped = applySummary(shaped, parsed.summary);
      if (parsed.elements?.length) shaped = applyElements(shaped, parsed.elements);
      resource = JSON.stringify(shaped);
    }
    return { fullUrl: `${config.fhirBase}/${record.type}/${record.id}`, resource, search: { mode } };
  }

  app.get<{ Params: { type: string } }>('/:type', async (request, reply) => {
    const { type } = request.params;
    checkTypeAndId(type, 'x');
    const body = await search(request, [type], `/${type}`);
    return reply.type(responseType(request)).send(body);
  });

  // The form body is only known here: a search it names AuditEvent in waits for the trail too.
  app.post<{ Params: { type: string } }>('/:type/_search', { preHandler: settleBeforeAuditReads }, async (request, reply) => {
    const { type } = request.params;
    checkTypeAndId(type, 'x');
    const body = await search(request, [type], `/${type}`);
    return reply.type(responseType(request)).send(body);
  });

  // Patient compartment search (search.html#compartments): [type] or every type (`*`) in Patient/[id]'s compartment.
  // Parametric like the routes it sits beside (`/:type/:id/_history`, whose static segment wins), so that none
  // of theirs is taken for a compartment.
  app.get<{ Params: { compartment: string; id: string; type: string } }>('/:compartment/:id/:type', async (request, reply) => {
    const { compartment, id, type } = request.params;
    checkTypeAndId(compartment, id);
    if (compartment !== 'Patient') throw new FhirError('FHIR_ERR_HTTP_NO_ROUTE', 404, 'not-supported', `Compartment search is offered for Patient only, not ${compartment.slice(0, 60)}`);
    if (type !== '*') checkTypeAndId(type, 'x');
    const body = await search(request, type === '*' ? [] : [type], `/Patient/${id}/${type}`, `Patient/${id}`);
    return reply.type(responseType(request)).send(body);
  });

  app.get('/', async (request, reply) => {
    const body = await search(request, [], '');
    return reply.type(responseType(request)).send(body);
  });

  app.post('/_search', async (request, reply) => {
    const body = await search(request, [], '');
    return reply.type(responseType(request)).send(body);
  });
};

/**
 * The search restriction narrowed to one patient compartment (`comp` holds each
 * resource's patients). The policy gives most types the same filter object (a
 * professional's patients, written once): its narrowed form must be one object
 * too, since the executor writes each distinct filter object once
 * (search-executor.ts `Scope.typeFilter`). A new object per type copied a list
 * of 2,000 patients into each of ~146 types of `Patient/x/*`: a filter of 14 MB,
 * past MongoDB's 16 MiB command limit at about 2,500 patients.
 */
function inCompartment(restrict: (type: string) => Filter | null, compartment: string): (type: string) => Filter | null {
  const own: Filter = { comp: compartment };
  const narrowed = new WeakMap<Filter, Filter>();
  return (type) => {
    const policy = restrict(type);
    if (policy === null) return null;
    if (Object.keys(policy).length === 0) return own;
    let filter = narrowed.get(policy);
    if (!filter) narrowed.set(policy, (filter = { $and: [policy, own] }));
    return filter;
  };
}

/**
 * What a search page tells in its OperationOutcome entry (search mode
 * `outcome`): the unknown parameters it ignored, and includes it stopped
 * short of (search-executor.ts INCLUDE_LIMIT), which a client following an
 * `:iterate` chain would otherwise take for the whole of it.
 */
function warningsFor(parsed: SearchRequest, includesIncomplete = false): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = parsed.unknown.map((name) => ({ severity: 'warning', code: 'not-supported', diagnostics: `Unknown search parameter ${name} was ignored`, expression: [name] }));
  if (includesIncomplete) {
    issues.push({
      severity: 'warning', code: 'incomplete',
      diagnostics: `Includes stopped at ${INCLUDE_LIMIT} resources, the most one page includes: this page does not hold every resource its _include/_revinclude name; ask for fewer matches per page (_count) or fewer includes`,
    });
  }
  return issues;
}

const FORM = 'application/x-www-form-urlencoded';

/**
 * A `_search` form as ordered name/value pairs, decoded as a URL's query is
 * (URLSearchParams; not queryPairs, which would take a `?` in a value for the
 * start of a query), with the same rule for broken encoding (README "Bad input",
 * plugins/query-encoding.ts): `%zz`, a lone `%`, escapes or bytes that are not
 * UTF-8 are a 400, where the parser would keep them as written (or as U+FFFD)
 * and search for something the client never sent.
 */
function parseSearchForm(body: Buffer): Array<[string, string]> {
  const text = body.toString('utf8');
  const broken = () => new BadRequestError('FHIR_ERR_HTTP_BAD_REQUEST', 'The _search form is not valid (broken percent-encoding or not UTF-8)');
  if (!isUtf8(body)) throw broken();
  if (text.includes('%')) {
    try {
      decodeURIComponent(text);
    } catch {
      throw broken();
    }
  }
  return [...new URLSearchParams(text)];
}

/** The query's name/value pairs in order, then a POST _search form's (parseSearchForm). */
function requestPairs(request: FastifyRequest): Array<[string, string]> {
  const q = request.url.indexOf('?');
  const pairs = q < 0 ? [] : queryPairs(request.url.slice(q + 1));
  if (request.method === 'POST' && Array.isArray(request.body)) pairs.push(...(request.body as Array<[string, string]>));
  return pairs.filter(([k]) => k !== '_format' && k !== '_pretty');
}
