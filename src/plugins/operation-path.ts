/**
 * Fastify `rewriteUrl`: a path segment written `%24name` is the operation
 * `$name`. Some HTTP clients percent-encode every `$`, and a decoded `$` can
 * begin neither a resource type nor an id, so the router would otherwise take
 * `Patient/%24everything` for the id `$everything` and answer 400 instead of
 * routing it as an operation. Only the path is touched (a `%24` in the query
 * is a search value), and a URL without `%24` is returned as it came, at the
 * cost of one scan.
 */
export function operationPath(url: string): string {
  const encoded = /\/%24/i;
  if (!encoded.test(url)) return url;
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  return path.replace(/\/%24/gi, '/$') + (query < 0 ? '' : url.slice(query));
}
