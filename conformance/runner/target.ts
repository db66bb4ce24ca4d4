import type { CapabilityStatement } from '@medplum/fhirtypes';
import { declaresSmartSecurity, oauthUri } from './capabilities.js';
import type { HttpClient, HttpResponse } from './http-client.js';
import { readSmartConfiguration } from './smart-configuration.js';
import { RequestIncomplete } from './timed-request.js';
import type { Target } from './types.js';
import { withArticle } from './wording.js';

/**
 * The base cannot be judged at all: it is unreachable, or it serves no
 * CapabilityStatement. Every check depends on that document (declared features,
 * security), so the run stops here rather than skip everything and look conformant.
 */
export class TargetUnavailable extends Error {
  override readonly name = 'TargetUnavailable';
}

/**
 * Learns what the server declares, without credentials: its CapabilityStatement
 * (required, else {@link TargetUnavailable}) and its SMART configuration
 * (optional). Checks skip what is not declared here.
 */
export async function discoverTarget(http: HttpClient): Promise<Target> {
  const capabilityStatement = await fetchCapabilityStatement(http);
  const target: Target = { base: http.base, capabilityStatement };
  try {
    const res = await http.get('.well-known/smart-configuration', { auth: 'none', headers: { accept: 'application/json' } });
    const found = readSmartConfiguration(res.status, res.json, http.base);
    if ('error' in found) target.smartConfigurationError = found.error;
    else {
      target.smartConfiguration = found.configuration;
      target.tokenEndpoint = found.tokenEndpoint;
    }
  } catch (err) {
    target.smartConfigurationError = (err as Error).message;
  }
  target.tokenEndpoint ??= oauthUri(target.capabilityStatement, 'token');
  return target;
}

const REDIRECTS = [301, 302, 303, 307, 308];

async function fetchCapabilityStatement(http: HttpClient): Promise<CapabilityStatement> {
  const url = `${http.base}/metadata`;
  let res: HttpResponse;
  try {
    res = await http.get('metadata', { auth: 'none' });
  } catch (err) {
    // Anything else is the kit's own error (a bad argument), never the server being unreachable.
    if (!(err instanceof RequestIncomplete)) throw err;
    // The reason alone (ECONNREFUSED, ENOTFOUND, the deadline): the request is named after it.
    throw new TargetUnavailable(`cannot reach ${http.base}: ${err.reason} (GET ${url})`, { cause: err });
  }
  const body = res.json as CapabilityStatement | undefined;
  if (res.status === 200 && body?.resourceType === 'CapabilityStatement') return body;
  if (REDIRECTS.includes(res.status)) throw new TargetUnavailable(redirectMessage(url, res));
  const type = res.headers['content-type']?.split(';')[0] ?? 'no content type';
  const what = body?.resourceType ? `, ${withArticle(body.resourceType)}` : '';
  // A web page or a 404 (even a JSON one, from a server whose FHIR API is under `/fhir`) usually means
  // the base URL misses its FHIR path.
  const hint = /json/.test(type) && res.status !== 404 ? '' : `; is ${http.base} the FHIR base URL?`;
  throw new TargetUnavailable(`${url} did not return a CapabilityStatement (got ${type} ${res.status}${what})${hint}`);
}

/**
 * The kit follows no redirects (a check must see what the server answers, and a
 * token must not follow a redirect to another host), so a redirected base is told
 * plainly, with the base it most likely meant (`http:` moved to `https:`, a
 * missing or extra path segment).
 */
function redirectMessage(url: string, res: HttpResponse): string {
  const location = res.headers.location;
  if (!location) return `${url} answered ${res.status}, a redirect without a Location header: the kit follows no redirects, so --base must be the FHIR base URL itself`;
  let target: URL;
  try {
    target = new URL(location, url);
  } catch {
    return `${url} answered ${res.status}, a redirect to ${location}, which is not a URL: the kit follows no redirects, so --base must be the FHIR base URL itself`;
  }
  const base = target.pathname.endsWith('/metadata') ? `${target.origin}${target.pathname.slice(0, -'/metadata'.length)}` : undefined;
  return `${url} answered ${res.status}, a redirect to ${target.toString()}: the kit follows no redirects, so give the URL the server redirects to${base ? ` (--base ${base})` : ' as --base'}`;
}

/** True when the server says its data needs an OAuth token (SMART security declared, or a SMART configuration served). */
export function requiresTokens(target: Target): boolean {
  return declaresSmartSecurity(target.capabilityStatement) || target.smartConfiguration !== undefined;
}

/** v2 scope syntax (`.cruds`) unless the server says it only knows v1. */
export function scopeSyntax(target: Target): 'v1' | 'v2' {
  const caps = target.smartConfiguration?.capabilities ?? [];
  if (caps.includes('permission-v1') && !caps.includes('permission-v2')) return 'v1';
  return 'v2';
}

/** Builds a system scope for a type (`*` for all) and the wanted permissions, in the server's syntax. */
export function systemScope(target: Target, type: string, permissions: 'cruds' | 'rs'): string {
  if (scopeSyntax(target) === 'v2') return `system/${type}.${permissions}`;
  return `system/${type}.${permissions === 'rs' ? 'read' : '*'}`;
}
