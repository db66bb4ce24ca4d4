import type { Query as MingoQuery } from 'mingo';
import { withSetMembership } from './set-membership.js';

type QueryClass = typeof MingoQuery;
let ctor: QueryClass | undefined;

/**
 * mingo's Query, imported on first use (loading mingo costs ~150 ms that
 * start-up need not pay before the first search), bound to a context holding
 * the query operators only. Store filters (store/filter.ts) use nothing else,
 * and mingo copies its whole context, hundreds of aggregation operators
 * included, into every Query it builds: that copy cost more than a search.
 */
export async function mingoQuery(): Promise<QueryClass> {
  if (ctor) return ctor;
  const [{ Query }, { Context }, queryOperators, { resolve }] = await Promise.all([
    import('mingo/query'), import('mingo/core'), import('mingo/operators/query'), import('mingo/util'),
  ]);
  const context = Context.init({ query: withSetMembership({ ...queryOperators } as never, resolve as never) as never });
  class FilterQuery extends Query {
    constructor(condition: ConstructorParameters<QueryClass>[0], options?: ConstructorParameters<QueryClass>[1]) {
      super(condition, { ...options, context });
    }
  }
  ctor = FilterQuery as unknown as QueryClass;
  return ctor;
}

/** Compiled queries by filter text: clients repeat the same searches (an app polling a patient's vital signs). */
const compiled = new Map<string, MingoQuery>();
const COMPILED_MAX = 2000;

/**
 * The compiled Query of a store filter, from a bounded cache: compiling costs
 * more than testing a few hundred candidates. RegExp values (`$regex`) are
 * keyed by their source and flags, which JSON alone would lose.
 */
export function compiledQuery(Mingo: QueryClass, filter: Record<string, unknown>): MingoQuery {
  const key = JSON.stringify(filter, (_k, v: unknown) => (v instanceof RegExp ? `\u0000re/${v.source}/${v.flags}` : v));
  let query = compiled.get(key);
  if (query) {
    // Most recently used last, so the oldest entry is the one dropped.
    compiled.delete(key);
    compiled.set(key, query);
    return query;
  }
  query = new Mingo(filter as never);
  if (compiled.size >= COMPILED_MAX) compiled.delete(compiled.keys().next().value!);
  compiled.set(key, query);
  return query;
}
