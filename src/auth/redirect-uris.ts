/**
 * What may be registered as an app's redirect URI: where the authorization
 * server sends a person's browser with a code (or an error). RFC 6749 §3.1.2:
 * an absolute URI without a fragment. Over the network only https. Plain http
 * only to the device itself, for native apps listening on a loopback port
 * (RFC 8252 §7.3: 127.0.0.0/8 or [::1]; `localhost`, which §8.3 discourages
 * but does not forbid, is taken as well). A native app's private-use scheme
 * (RFC 8252 §7.1) must be a reverse domain name (`com.example.app:/cb`): one
 * with a dot, which no scheme a browser runs or reads locally has
 * (`javascript:`, `data:`, `vbscript:`, `file:`, `blob:`, `about:`...).
 */

/** Schemes a browser executes or reads locally, named for a clearer refusal (none has a dot anyway). */
const DANGEROUS_SCHEMES: ReadonlySet<string> = new Set(['javascript', 'data', 'vbscript', 'file', 'blob', 'about', 'filesystem', 'view-source']);
/** RFC 8252 §7.1: a scheme based on a domain name, expressed in reverse order. */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+$/;
/** Schemes that are neither https, loopback http nor a native app's own. */
const NETWORK_SCHEMES: ReadonlySet<string> = new Set(['http', 'ws', 'wss', 'ftp']);

/** Why `uri` cannot be a redirect URI, or undefined when it can. */
export function redirectUriProblem(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URI';
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (uri.includes('#')) return 'has a fragment (RFC 6749 §3.1.2)';
  if (DANGEROUS_SCHEMES.has(scheme)) return `uses the ${scheme}: scheme, which a browser would run or read locally`;
  if (url.username || url.password) return 'carries credentials';
  if (scheme === 'https') return url.hostname ? undefined : 'has no host';
  if (scheme === 'http') return isLoopbackHost(url.hostname) ? undefined : 'uses http on a host other than the loopback interface (use https; RFC 8252 §7.3 allows http only for 127.0.0.1, [::1] or localhost)';
  if (NETWORK_SCHEMES.has(scheme) || !PRIVATE_USE_SCHEME.test(scheme)) {
    return `uses the ${scheme}: scheme: a native app's own scheme is a reverse domain name such as com.example.app (RFC 8252 §7.1)`;
  }
  return undefined;
}

/** The problems of a list of redirect URIs, each naming the URI (shortened). */
export function redirectUriProblems(uris: readonly string[]): string[] {
  const problems: string[] = [];
  for (const uri of uris) {
    const problem = redirectUriProblem(uri);
    if (problem) problems.push(`redirect URI "${shorten(uri)}" ${problem}`);
  }
  return problems;
}

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === 'localhost' || host === '[::1]') return true;
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return octets !== null && octets[1] === '127' && octets.slice(2).every((o) => Number(o) <= 255);
}

function shorten(text: string): string {
  const clean = text.replace(/[^\x20-\x7E]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}
