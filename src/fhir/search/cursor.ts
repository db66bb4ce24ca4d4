import { createHash } from 'node:crypto';
import { BadRequestError } from '../../errors.js';
import type { SearchRequest } from './request.js';

/**
 * Position of a page boundary in keyset paging: the sort values of a record
 * plus its (type, id) tie-breakers. `dir` says which way the page reads from
 * it. `sig` ties the token to the query it was made for (querySignature).
 */
export interface CursorState {
  dir: 'next' | 'prev';
  /** Sort key values; null where the record had no value. */
  keys: Array<string | number | null>;
  type: string;
  id: string;
  sig: string;
}

export function encodeCursor(state: CursorState): string {
  return Buffer.from(JSON.stringify([state.dir === 'next' ? 1 : 0, state.keys, state.type, state.id, state.sig]), 'utf8').toString('base64url');
}

export function decodeCursor(token: string): CursorState {
  try {
    const [dir, keys, type, id, sig] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    if ((dir !== 0 && dir !== 1) || !Array.isArray(keys) || typeof type !== 'string' || typeof id !== 'string' || typeof sig !== 'string'
      || !keys.every((k) => k === null || typeof k === 'string' || typeof k === 'number')) throw new Error('shape');
    return { dir: dir === 1 ? 'next' : 'prev', keys: keys as CursorState['keys'], type, id, sig };
  } catch (cause) {
    throw new BadRequestError('FHIR_ERR_SEARCH_CURSOR', 'Invalid _cursor: use the links of a previous search page', { cause, expression: ['_cursor'] });
  }
}

/**
 * What a cursor is bound to: the types searched, the criteria and the sort, so
 * that a position taken in one search is refused in another (README
 * `FHIR_ERR_SEARCH_CURSOR`), where its position would mean nothing.
 * Criteria are taken as written, in any order (`a=1&b=2` is `b=2&a=1`); what
 * only shapes the answer (`_count`, `_include`, `_summary`, `_elements`,
 * `_total`) is left out, so a client may change it between pages. A hash keeps
 * the token short whatever the query's length; it guards against mistakes, not
 * forgery (a forged position only moves within what the caller may see).
 */
export function querySignature(request: Pick<SearchRequest, 'types' | 'clauses' | 'sort'>): string {
  const normalised = JSON.stringify([
    [...request.types].sort(),
    request.clauses.map((c) => JSON.stringify([c.name, c.raw])).sort(),
    request.sort.map((r) => (r.descending ? `-${r.code}` : r.code)),
  ]);
  return createHash('sha256').update(normalised).digest('base64url').slice(0, 22);
}
