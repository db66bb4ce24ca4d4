import { BadRequestError } from '../../errors.js';

/**
 * Position of a page boundary in keyset paging: the sort values of a record
 * plus its (type, id) tie-breakers. `dir` says which way the page reads from
 * it. `sig` ties the token to the sort it was made for.
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
