import type {
  CapabilityStatement,
  CapabilityStatementRest,
  CapabilityStatementRestResource,
} from '@medplum/fhirtypes';

/** Reading what a CapabilityStatement declares; the kit skips what is not declared. */

export function serverRest(cs: CapabilityStatement | undefined): CapabilityStatementRest | undefined {
  return cs?.rest?.find((r) => r.mode === 'server') ?? cs?.rest?.[0];
}

export function resourceCapability(
  cs: CapabilityStatement | undefined,
  type: string,
): CapabilityStatementRestResource | undefined {
  return serverRest(cs)?.resource?.find((r) => r.type === type);
}

export function hasInteraction(cs: CapabilityStatement | undefined, type: string, code: string): boolean {
  return resourceCapability(cs, type)?.interaction?.some((i) => i.code === code) ?? false;
}

export function hasSystemInteraction(cs: CapabilityStatement | undefined, code: string): boolean {
  return serverRest(cs)?.interaction?.some((i) => i.code === code) ?? false;
}

export function hasSearchParam(cs: CapabilityStatement | undefined, type: string, name: string): boolean {
  const declared = (params: { name?: string }[] | undefined): boolean => params?.some((p) => p.name === name) ?? false;
  return declared(resourceCapability(cs, type)?.searchParam) || declared(serverRest(cs)?.searchParam);
}

export function hasSearchInclude(cs: CapabilityStatement | undefined, type: string, include: string): boolean {
  const list = resourceCapability(cs, type)?.searchInclude ?? [];
  return list.includes(include) || list.includes('*') || list.includes(`${type}:*`);
}

export function hasSearchRevInclude(cs: CapabilityStatement | undefined, type: string, revinclude: string): boolean {
  const list = resourceCapability(cs, type)?.searchRevInclude ?? [];
  return list.includes(revinclude) || list.includes('*');
}

export function hasOperation(cs: CapabilityStatement | undefined, name: string, type?: string): boolean {
  const wanted = name.replace(/^\$/, '');
  const match = (ops: { name?: string }[] | undefined): boolean => ops?.some((o) => o.name?.replace(/^\$/, '') === wanted) ?? false;
  return match(serverRest(cs)?.operation) || (type !== undefined && match(resourceCapability(cs, type)?.operation));
}

export type ConditionalMode = 'conditionalCreate' | 'conditionalUpdate' | 'conditionalDelete' | 'conditionalRead';

export function hasConditional(cs: CapabilityStatement | undefined, type: string, mode: ConditionalMode): boolean {
  const value = resourceCapability(cs, type)?.[mode];
  if (value === undefined) return false;
  if (typeof value === 'boolean') return value;
  return value !== 'not-supported';
}

export function declaresJsonFormat(cs: CapabilityStatement | undefined): boolean {
  return cs?.format?.some((f) => f === 'json' || /json/.test(f)) ?? false;
}

/** The token endpoint named by the `oauth-uris` extension of the security element. */
export function oauthUri(cs: CapabilityStatement | undefined, name: 'token' | 'authorize' | 'introspect' | 'revoke' | 'register' | 'manage'): string | undefined {
  for (const ext of serverRest(cs)?.security?.extension ?? []) {
    if (ext.url !== 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris') continue;
    const found = ext.extension?.find((e) => e.url === name);
    if (found?.valueUri) return found.valueUri;
  }
  return undefined;
}

/** True when the security element names SMART on FHIR, i.e. the server requires OAuth tokens. */
export function declaresSmartSecurity(cs: CapabilityStatement | undefined): boolean {
  const security = serverRest(cs)?.security;
  if (!security) return false;
  const coded = security.service?.some((s) => s.coding?.some((c) => c.code === 'SMART-on-FHIR' || c.code === 'OAuth')) ?? false;
  return coded || oauthUri(cs, 'token') !== undefined;
}
