import type { AuditEvent, AuditEventAgent, AuditEventEntity, Communication } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import type { Interaction } from '../auth/scopes.js';
import { CLIENT_ID_SYSTEM } from '../access/patient-facts.js';

/** One access decision, as the policy's caller reports it. */
export interface AuditInput {
  principal: Principal;
  action: Interaction | 'e';
  /** FHIR interaction name (read, vread, search-type, create, ...). */
  interaction: string;
  resourceType: string;
  id?: string;
  compartments: string[];
  allowed: boolean;
  rule: string;
  reason: string;
  /** v3-ActReason code, e.g. BTG for break-the-glass. */
  purpose?: string;
  requestId: string;
  address?: string;
}

/**
 * One AuditEvent as read back from the audit log (audit-log-codec.ts, where it
 * waits as a row) before it is materialised as a FHIR resource.
 */
export interface AuditRecord extends Omit<AuditInput, 'principal' | 'id'> {
  /** The AuditEvent's id, chosen when the record is logged, so that materialising twice writes it once. */
  eventId: string;
  /** When the access happened (epoch ms): AuditEvent.recorded, not the time of materialisation. */
  recorded: number;
  who: Pick<Principal, 'kind' | 'clientId' | 'subject' | 'fhirUser'>;
  /** The resources concerned ('Type/id'), in the order the request met them. */
  resources: string[];
}

export const ACTION_CODES: Record<AuditInput['action'], NonNullable<AuditEvent['action']>> = { c: 'C', r: 'R', u: 'U', d: 'D', s: 'E', e: 'E' };
export const ENTITY_TYPES = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
export const AUDIT_EVENT_TYPE = { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' } as const;
export const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';

/**
 * The tag of every AuditEvent the server records itself. Clients may record
 * their own AuditEvents, never with this tag (repository.ts refuses it), so a
 * trail can tell the server's records from what clients wrote:
 * `AuditEvent?_tag=https://carnet.dev/fhir/CodeSystem/audit-origin|carnet`.
 */
export const AUDIT_ORIGIN = { system: 'https://carnet.dev/fhir/CodeSystem/audit-origin', code: 'carnet' } as const;

/** The AuditEvent resource of one record (test/unit/audit-event-shape.test.ts keeps it valid R4). */
export function toAuditEvent(record: AuditRecord): AuditEvent {
  const { who: principal } = record;
  const who: AuditEventAgent['who'] = principal.fhirUser
    ? { reference: principal.fhirUser }
    : { identifier: { system: CLIENT_ID_SYSTEM, value: principal.clientId }, display: principal.clientId };
  const agents: AuditEventAgent[] = [{
    who,
    requestor: true,
    altId: principal.subject,
    ...(record.address ? { network: { address: record.address, type: '2' as const } } : {}),
  }];
  if (principal.fhirUser && principal.kind === 'app') {
    agents.push({ who: { identifier: { system: CLIENT_ID_SYSTEM, value: principal.clientId } }, requestor: false });
  }
  const entities: AuditEventEntity[] = record.resources.map((reference) => ({ what: { reference }, type: { system: ENTITY_TYPES, code: '2' } }));
  for (const patient of record.compartments) entities.push({ what: { reference: patient }, type: { system: ENTITY_TYPES, code: '1' } });
  return {
    resourceType: 'AuditEvent',
    id: record.eventId,
    meta: { tag: [{ ...AUDIT_ORIGIN }] },
    type: { ...AUDIT_EVENT_TYPE },
    subtype: [{ system: RESTFUL_INTERACTION, code: record.interaction }],
    action: ACTION_CODES[record.action],
    recorded: new Date(record.recorded).toISOString(),
    outcome: record.allowed ? '0' : '4',
    outcomeDesc: `${record.allowed ? 'allowed' : 'refused'} by rule ${record.rule}: ${record.reason}`,
    ...(record.purpose ? { purposeOfEvent: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: record.purpose }] }] } : {}),
    agent: agents,
    source: { observer: { display: 'carnet' }, site: record.requestId },
    entity: entities.length ? entities : undefined,
  };
}

/** The system under which the server's own notifications are categorised. */
const NOTIFICATION_SYSTEM = 'https://carnet.dev/fhir/CodeSystem/notification-type';

/** A notification from the system to a patient's space (read by the holder's apps as Communications). */
export function notification(patient: string, recipients: string[], code: string, text: string, sent: string): Communication {
  return {
    resourceType: 'Communication',
    status: 'completed',
    category: [{ coding: [{ system: NOTIFICATION_SYSTEM, code }] }],
    subject: { reference: patient },
    recipient: recipients.map((reference) => ({ reference })),
    sender: { display: 'carnet' },
    sent,
    payload: [{ contentString: text }],
  };
}
