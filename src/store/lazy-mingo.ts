import type { Query as MingoQuery } from 'mingo';

let ctor: typeof MingoQuery | undefined;

/**
 * mingo's Query, imported on first use: loading mingo with all its operators
 * costs ~150 ms, which start-up need not pay before the first search.
 */
export async function mingoQuery(): Promise<typeof MingoQuery> {
  ctor ??= (await import('mingo')).Query;
  return ctor;
}
