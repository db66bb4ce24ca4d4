import type { CapabilityStatement } from '@medplum/fhirtypes';
import { oauthUri } from './capabilities.js';
import type { HttpClient } from './http-client.js';
import type { SmartConfiguration, Target } from './types.js';

/**
 * Learns what the server declares, without credentials: its CapabilityStatement
 * and its SMART configuration. Checks skip what is not declared here.
 */
export async function discoverTarget(http: HttpClient): Promise<Target> {
  const target: Target = { base: http.base };
  try {
    const res = await http.get('metadata', { auth: 'none' });
    const body = res.json as CapabilityStatement | undefined;
    if (res.status === 200 && body?.resourceType === 'CapabilityStatement') target.capabilityStatement = body;
    else target.capabilityError = `GET metadata answered ${res.status}${body?.resourceType ? ` with a ${body.resourceType}` : ''}`;
  } catch (err) {
    target.capabilityError = (err as Error).message;
  }
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
