import type { CapabilityStatement } from '@medplum/fhirtypes';
import { declaresSmartSecurity, oauthUri } from './capabilities.js';
import type { HttpClient, HttpResponse } from './http-client.js';
import type { SmartConfiguration, Target } from './types.js';

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
    const body = res.json as SmartConfiguration | undefined;
    if (res.status === 200 && body && typeof body === 'object') target.smartConfiguration = body;
    else target.smartConfigurationError = `GET .well-known/smart-configuration answered ${res.status}`;
  } catch (err) {
    target.smartConfigurationError = (err as Error).message;
  }
  target.tokenEndpoint = target.smartConfiguration?.token_endpoint ?? oauthUri(target.capabilityStatement, 'token');
  return target;
}

async function fetchCapabilityStatement(http: HttpClient): Promise<CapabilityStatement> {
  const url = `${http.base}/metadata`;
  let res: HttpResponse;
  try {
    res = await http.get('metadata', { auth: 'none' });
  } catch (err) {
    // The client wraps the network error; its cause says what happened (ECONNREFUSED, ENOTFOUND, a timeout).
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
    throw new TargetUnavailable(`cannot reach ${http.base}: ${cause} (GET ${url})`, { cause: err });
  }
  const body = res.json as CapabilityStatement | undefined;
  if (res.status === 200 && body?.resourceType === 'CapabilityStatement') return body;
  const type = res.headers['content-type']?.split(';')[0] ?? 'no content type';
  const what = body?.resourceType ? `, a ${body.resourceType}` : '';
  // A web page usually means the base URL misses its FHIR path (`/fhir`).
  const hint = /json/.test(type) ? '' : `; is ${http.base} the FHIR base URL?`;
  throw new TargetUnavailable(`${url} did not return a CapabilityStatement (got ${type} ${res.status}${what})${hint}`);
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
