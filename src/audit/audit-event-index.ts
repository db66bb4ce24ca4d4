import type { ExtractedIndex } from '../fhir/search/extract.js';
import { addSortKeys, compartmentsOf, normalizeReference } from '../fhir/search/extract.js';
import type { IndexValue, ReferenceIndex, SearchIndex, SortKeys, TokenIndex } from '../fhir/search/index-types.js';
import { foldString } from '../fhir/search/normalize.js';
import { indexedSearchParams } from '../fhir/search/params.js';
import type { SearchParamDef, SearchParamType } from '../fhir/search/params.js';
import type { AuditRecord } from './audit-event.js';
import { CLIENT_ID_SYSTEM } from '../access/patient-facts.js';
import { ACTION_CODES, AUDIT_EVENT_TYPE, AUDIT_ORIGIN, ENTITY_TYPES, RESTFUL_INTERACTION } from './audit-event.js';

/**
 * The AuditEvent search parameters this module knows how to fill, with their
 * expressions. If fhir-profiles/ ever adds or changes one, the known list no
 * longer matches and AuditEvents go back to the generic extractor.
 */
const KNOWN_PARAMS = [
  '_profile:uri:AuditEvent.meta.profile', '_security:token:AuditEvent.meta.security', '_source:uri:AuditEvent.meta.source', '_tag:token:AuditEvent.meta.tag',
  'action:token:AuditEvent.action', 'address:string:AuditEvent.agent.network.address', 'agent:reference:AuditEvent.agent.who',
  'agent-name:string:AuditEvent.agent.name', 'agent-role:token:AuditEvent.agent.role', 'altid:token:AuditEvent.agent.altId',
  'date:date:AuditEvent.recorded', 'entity:reference:AuditEvent.entity.what', 'entity-name:string:AuditEvent.entity.name',
  'entity-role:token:AuditEvent.entity.role', 'entity-type:token:AuditEvent.entity.type', 'outcome:token:AuditEvent.outcome',
  "patient:reference:AuditEvent.agent.who.where(reference.startsWith('Patient/')) | AuditEvent.entity.what.where(reference.startsWith('Patient/'))",
  'policy:uri:AuditEvent.agent.policy', 'site:token:AuditEvent.source.site', 'source:reference:AuditEvent.source.observer',
  'subtype:token:AuditEvent.subtype', 'type:token:AuditEvent.type',
].join('\n');

let checkedDefs: SearchParamDef[] | undefined;
let known: Map<string, SearchParamType> | null = null;

/**
 * The known parameters' types, or null when AuditEvent's parameters are not
 * the known ones. Checked again whenever the parameter list is rebuilt (a
 * SearchParameter registered at run time replaces the cached list).
 */
function knownParams(): Map<string, SearchParamType> | null {
  const defs = indexedSearchParams('AuditEvent');
  if (defs !== checkedDefs) {
    checkedDefs = defs;
    known = defs.map((d) => `${d.code}:${d.type}:${d.expression}`).join('\n') === KNOWN_PARAMS ? new Map(defs.map((d) => [d.code, d.type])) : null;
  }
  return known;
}

const ORIGIN_TOKEN: TokenIndex = { s: AUDIT_ORIGIN.system, c: AUDIT_ORIGIN.code, sc: `${AUDIT_ORIGIN.system}|${AUDIT_ORIGIN.code}` };
const TYPE_TOKEN: TokenIndex = { s: AUDIT_EVENT_TYPE.system, c: AUDIT_EVENT_TYPE.code, sc: `${AUDIT_EVENT_TYPE.system}|${AUDIT_EVENT_TYPE.code}`, t: foldString(AUDIT_EVENT_TYPE.display) };

/**
 * The search index of the AuditEvent that toAuditEvent builds from a record,
 * computed from the record instead of evaluating every parameter's expression
 * on the resource: the trail is the server's largest write volume. Equal to
 * extractIndex(toAuditEvent(record)), which test/unit/audit-event-index.test.ts
 * checks over every shape of record; undefined when the parameters are not the
 * known ones (the caller then extracts as for any resource).
 */
export function auditEventIndex(record: AuditRecord): ExtractedIndex | undefined {
  const params = knownParams();
  if (!params) return undefined;
  const { who } = record;
  const idx: SearchIndex = {};
  idx._tag = [{ ...ORIGIN_TOKEN }];
  idx.action = [{ c: ACTION_CODES[record.action] }];
  if (record.address) idx.address = [{ f: foldString(record.address), x: record.address }];
  const requestor = who.fhirUser ? normalizeReference(who.fhirUser) : { s: CLIENT_ID_SYSTEM, c: who.clientId };
  const agents: IndexValue[] = requestor ? [requestor] : [];
  if (who.fhirUser && who.kind === 'app') agents.push({ s: CLIENT_ID_SYSTEM, c: who.clientId });
  if (agents.length) idx.agent = agents;
  if (typeof who.subject === 'string') idx.altid = [{ c: who.subject }];
  // An instant with milliseconds: its range is that one millisecond (as dateRange reads it).
  idx.date = [{ lo: record.recorded, hi: record.recorded }];
  const entities: ReferenceIndex[] = [];
  const entityTypes: TokenIndex[] = [];
  // The patient parameter: agents first, then entities, duplicates kept, as the union in its expression yields them.
  const patients: IndexValue[] = who.fhirUser?.startsWith('Patient/') && requestor ? [requestor] : [];
  const add = (reference: string, code: string) => {
    const ref = normalizeReference(reference);
    if (ref) {
      entities.push(ref);
      if (reference.startsWith('Patient/')) patients.push(ref);
    }
    entityTypes.push({ s: ENTITY_TYPES, c: code, sc: `${ENTITY_TYPES}|${code}` });
  };
  for (const reference of record.resources) add(reference, '2');
  for (const patient of record.compartments) add(patient, '1');
  if (entities.length) idx.entity = entities;
  if (entityTypes.length) idx['entity-type'] = entityTypes;
  idx.outcome = [{ c: record.allowed ? '0' : '4' }];
  if (patients.length) idx.patient = patients;
  idx.site = [{ c: record.requestId }];
  idx.subtype = [{ s: RESTFUL_INTERACTION, c: record.interaction, sc: `${RESTFUL_INTERACTION}|${record.interaction}` }];
  idx.type = [{ ...TYPE_TOKEN }];
  const srt: SortKeys = {};
  for (const code in idx) addSortKeys(srt, code, params.get(code)!, idx[code]!);
  return { idx, srt, comp: compartmentsOf({ resourceType: 'AuditEvent' }, idx) };
}
