import { BadRequestError } from '../errors.js';

/**
 * A 400 for a query string whose percent-encoding is broken (`%zz`, a lone
 * `%`, bytes that are not UTF-8), as Fastify already answers for the path.
 * The query parsers would keep such text literally, or as U+FFFD, and search
 * for something the client never asked for. Undefined when the query is fine:
 * without a `%` after the `?`, at the cost of one scan of the URL.
 */
export function queryEncodingError(url: string): BadRequestError | undefined {
  const query = url.indexOf('?');
  if (query < 0 || url.indexOf('%', query) < 0) return undefined;
  try {
    decodeURIComponent(url.slice(query + 1));
    return undefined;
  } catch {
    return new BadRequestError('FHIR_ERR_HTTP_BAD_REQUEST', 'The request URL is not valid (broken percent-encoding in the query)');
  }
}
