import type { CapabilityStatement, CapabilityStatementRestResource, Extension } from '@medplum/fhirtypes';
import { RESOURCE_TYPES } from './resource-types.js';
import { listSearchParams, supportedSearchParams } from './search/params.js';
import { readGeneratedJson, readGeneratedText } from './validation/generated-files.js';

export interface CapabilityOptions {
  fhirBase: string;
  publicUrl: string;
  software: { name: string; version: string };
  /** OAuth endpoints advertised in the SMART oauth-uris extension. */
  oauth: Partial<Record<'token' | 'authorize' | 'introspect' | 'revoke' | 'register' | 'manage', string>>;
  /** Extra rest-level operations (name -> OperationDefinition canonical). */
  operations?: Array<{ name: string; definition: string }>;
  /** IHE and other profiles/actors this server claims (CapabilityStatement.instantiates). */
  instantiates?: string[];
}

/** IHE MHD actors implemented by space/documents (ITI-65 recipient; ITI-66/67/68 responder). */
const IMPLEMENTED_ACTORS = [
  'https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient',
  'https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentResponder',
];

const INTERACTIONS: CapabilityStatementRestResource['interaction'] = [
  'read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type',
].map((code) => ({ code: code as NonNullable<CapabilityStatementRestResource['interaction']>[number]['code'] }));

/**
 * The CapabilityStatement, generated from what is registered: every R4
 * resource type with the interactions the generic routes implement, and its
 * search parameters from the registry the search engine itself uses
 * (`resources`: capabilityResources(), or what the build made of it).
 */
export function buildCapabilityStatement(options: CapabilityOptions, resources: CapabilityStatementRestResource[]): CapabilityStatement {
  const oauthExtension: Extension = {
    url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
    extension: Object.entries(options.oauth).map(([url, valueUri]) => ({ url, valueUri })),
  };
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: options.software,
    implementation: { description: 'carnet FHIR server for a personal health space', url: options.fhirBase },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'application/json'],
    patchFormat: ['application/json-patch+json'],
    instantiates: options.instantiates ?? IMPLEMENTED_ACTORS,
    rest: [{
      mode: 'server',
      security: {
        cors: true,
        service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
        description: 'OAuth2 bearer tokens (SMART App Launch 2 and SMART Backend Services) are required for every request except /metadata and /.well-known',
        extension: [oauthExtension],
      },
      resource: resources,
      interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }, { code: 'search-system' }],
      // Compartment search: GET [base]/Patient/[id]/[type] (or /*), routes/search.ts.
      compartment: ['http://hl7.org/fhir/CompartmentDefinition/patient'],
      searchParam: [
        { name: '_id', type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/Resource-id' },
        { name: '_lastUpdated', type: 'date', definition: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated' },
      ],
      operation: options.operations?.map((o) => ({ name: o.name, definition: o.definition })),
    }],
  };
}

/**
 * What the CapabilityStatement says of each resource type: the interactions
 * the generic routes implement and the type's search parameters. Built from
 * the search registry (2 MB of definitions, about 200 ms), so `npm run build`
 * writes it once (scripts/build-validators.ts) and the server reads that
 * (`prebuiltCapabilityResources`): a client's first request is usually for
 * /metadata, right after start-up.
 */
export function capabilityResources(): CapabilityStatementRestResource[] {
  return RESOURCE_TYPES.map((type): CapabilityStatementRestResource => ({
    type: type as CapabilityStatementRestResource['type'],
    interaction: INTERACTIONS,
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: true,
    conditionalCreate: true,
    conditionalRead: 'full-support',
    conditionalUpdate: true,
    conditionalDelete: 'single',
    searchInclude: ['*', ...listSearchParams(type).filter((p) => p.type === 'reference').map((p) => `${type}:${p.code}`)],
    searchRevInclude: ['*'],
    searchParam: supportedSearchParams(type)
      .map((p) => ({ name: p.code, definition: p.definition, type: p.type, ...(p.documentation ? { documentation: p.documentation } : {}) })),
  }));
}

/** Where the build writes `capabilityResources()`, in src/generated and dist/src/generated. */
export const CAPABILITY_RESOURCES_FILE = 'capability-resources.json';

/** `capabilityResources()` as the build computed it (a test checks that the two agree). */
export function prebuiltCapabilityResources(): CapabilityStatementRestResource[] {
  return readGeneratedJson<CapabilityStatementRestResource[]>(CAPABILITY_RESOURCES_FILE);
}

/** Stands for the per-type part until the text is spliced in; no JSON the statement holds can contain it. */
const RESOURCES_MARK = JSON.stringify('\u0000carnet:capability-resources\u0000');

/**
 * The statement as JSON text, with the per-type part the build wrote (a
 * megabyte) spliced in as written: the first /metadata, usually a client's
 * first request right after start-up, neither parses nor re-serialises it.
 */
export function capabilityStatementText(options: CapabilityOptions): string {
  const text = JSON.stringify(buildCapabilityStatement(options, JSON.parse(RESOURCES_MARK) as never));
  return text.replace(RESOURCES_MARK, () => readGeneratedText(CAPABILITY_RESOURCES_FILE));
}
