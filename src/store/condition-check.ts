import type { ParamClause, SearchClause, SearchRequest } from '../fhir/search/request.js';
import { BadRequestError } from '../errors.js';
import type { VersionRecord } from './engine.js';
import { compileClause } from './filter.js';
import { compiledQuery, mingoQuery } from './lazy-mingo.js';

/**
 * The condition a write creates under: an If-None-Exist that matched
 * nothing, or the URL of a conditional update that matched nothing and so
 * creates (over REST or as a Bundle entry; in a Bundle, with the entries'
 * placeholders resolved to the ids they stand for).
 */
export interface CreatingCondition {
  /** How the diagnostics name it. */
  source: 'If-None-Exist' | 'conditional update';
  /** The condition's search parameters, as searched. */
  query: Array<[string, string]>;
}

/**
 * The criteria of `request` that `record` (a version about to be written,
 * its index computed) does not satisfy: each clause compiled to the store's
 * filter (store/filter.ts) and tested on the record with mingo, as the
 * embedded engine runs a search and as Subscriptions match new versions. The
 * clauses are AND'ed in a search, so the record satisfies the condition when
 * none is returned. Chains and `_has` are not tested: they ask about other
 * resources, which an in-memory test of this one cannot decide (HAPI FHIR
 * leaves them alone too). Parameters the parser does not index (`_text`,
 * `_content`, `_list`) never get here: a condition is parsed strictly, and
 * refuses them.
 */
export async function unmetClauses(record: VersionRecord, request: Pick<SearchRequest, 'clauses'>): Promise<ParamClause[]> {
  const testable = request.clauses.filter((c): c is ParamClause => c.kind === 'param');
  if (!testable.length) return [];
  const Mingo = await mingoQuery();
  const subject = record as unknown as Record<string, unknown>;
  return testable.filter((clause) => !compiledQuery(Mingo, compileClause(clause)).test(subject));
}

/**
 * HAPI FHIR's HAPI-0929: a resource created under a condition must satisfy
 * it. Otherwise the next identical conditional create creates again (the
 * If-None-Exist guarantee silently fails), and a conditional reference with
 * the same condition in a transaction would name a resource that does not
 * match it. 400, naming the criteria the resource does not meet.
 */
export async function refuseUnmetCondition(record: VersionRecord, source: CreatingCondition['source'], request: Pick<SearchRequest, 'clauses'>): Promise<void> {
  const unmet = await unmetClauses(record, request);
  if (!unmet.length) return;
  const criteria = unmet.map(describe).join('&');
  const what = source === 'If-None-Exist'
    ? `The ${record.type} to create does not satisfy its If-None-Exist condition`
    : `The ${record.type} this conditional update creates (nothing matched) does not satisfy its condition`;
  throw new BadRequestError('FHIR_ERR_STORE_CONDITION_UNMET',
    `${what}: ${criteria}. A resource created under a condition must match it, or the same request sent again would create another`);
}

function describe(clause: SearchClause): string {
  const text = `${clause.name}=${clause.raw}`;
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
