import type { AuditEvent, AuditEventAgent, AuditEventEntity, Communication, Resource } from '@medplum/fhirtypes';
import type { FastifyBaseLogger } from 'fastify';
import type { Principal } from '../auth/principal.js';
import type { Interaction } from '../auth/scopes.js';
import type { Repository } from '../store/repository.js';

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

const ACTION_CODES: Record<AuditInput['action'], AuditEvent['action']> = { c: 'C', r: 'R', u: 'U', d: 'D', s: 'E', e: 'E' };

/**
 * Writes one AuditEvent per access decision that touches patient data.
 * Events are written in small batches off the request path, so a read does
 * not wait for a second durable write; `flush()` (called on close) drains them.
 */
export class AuditTrail {
  private queue: Resource[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly repository: Repository, private readonly log: FastifyBaseLogger, private readonly now: () => number = Date.now) {}

  /** Events of the current batch by request and decision, so one request's many decisions share one AuditEvent. */
  private byRequest = new Map<string, AuditEvent>();

  record(input: AuditInput): void {
    if (input.compartments.length === 0 && input.resourceType !== 'Patient') return;
    // A transaction decides once per entry: the decisions of one request about the same
    // patients, with the same outcome, become one AuditEvent naming every resource.
    const key = [input.requestId, input.principal.tokenId, input.interaction, input.allowed, input.rule, input.purpose ?? '', [...input.compartments].sort().join(',')].join('|');
    const same = this.byRequest.get(key);
    if (same && input.id) {
      const what = `${input.resourceType}/${input.id}`;
      if (!same.entity?.some((e) => e.what?.reference === what)) {
        (same.entity ??= []).unshift({ what: { reference: what }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' } });
      }
      return;
    }
    const event = toAuditEvent(input, new Date(this.now()).toISOString());
    this.byRequest.set(key, event);
    this.queue.push(event);
    if (this.queue.length >= 1000) void this.drain();
    else this.timer ??= setTimeout(() => void this.drain(), 50);
  }

  /**
   * Break-the-glass: besides the AuditEvent (purpose BTG), the holder and their
   * regular doctor are told, through a notification Communication in the space.
   */
  emergencyAccess(principal: Principal, notices: Array<{ patient: string; doctors: string[] }>, reason: string): void {
    const who = principal.fhirUser ?? principal.clientId;
    for (const { patient, doctors } of notices) {
      this.queue.push(notification(patient, [patient, ...doctors], 'emergency-access',
        `Accès en urgence à votre espace par ${who} : ${reason} / Emergency access to your space by ${who}: ${reason}`, new Date(this.now()).toISOString()));
    }
    this.timer ??= setTimeout(() => void this.drain(), 20);
  }

  async flush(): Promise<void> {
    await this.drain();
    await this.writing;
  }

  private drain(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    this.byRequest = new Map();
    if (batch.length === 0) return this.writing;
    this.writing = this.writing.then(async () => {
      try {
        const prepared = await Promise.all(batch.map((event) => this.repository.prepareCreate(event, { trusted: true })));
        await this.repository.commit(prepared);
      } catch (err) {
        // An audit that cannot be written is an operational emergency, not a client error.
        this.log.error({ err, count: batch.length }, 'audit events could not be written');
      }
    });
    return this.writing;
  }
}

/** The system under which the server's own notifications are categorised. */
export const NOTIFICATION_SYSTEM = 'https://carnet.dev/fhir/CodeSystem/notification-type';

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

export function toAuditEvent(input: AuditInput, recorded: string): AuditEvent {
  const who: AuditEventAgent['who'] = input.principal.fhirUser
    ? { reference: input.principal.fhirUser }
    : { identifier: { system: 'urn:carnet:client-id', value: input.principal.clientId }, display: input.principal.clientId };
  const agents: AuditEventAgent[] = [{
    who,
    requestor: true,
    altId: input.principal.subject,
    ...(input.address ? { network: { address: input.address, type: '2' as const } } : {}),
  }];
  if (input.principal.fhirUser && input.principal.kind === 'app') {
    agents.push({ who: { identifier: { system: 'urn:carnet:client-id', value: input.principal.clientId } }, requestor: false });
  }
  const entities: AuditEventEntity[] = [];
  if (input.id) entities.push({ what: { reference: `${input.resourceType}/${input.id}` }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' } });
  for (const patient of input.compartments) {
    entities.push({ what: { reference: patient }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1' } });
  }
  return {
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: input.interaction }],
    action: ACTION_CODES[input.action],
    recorded,
    outcome: input.allowed ? '0' : '4',
    outcomeDesc: `${input.allowed ? 'allowed' : 'refused'} by rule ${input.rule}: ${input.reason}`,
    ...(input.purpose ? { purposeOfEvent: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: input.purpose }] }] } : {}),
    agent: agents,
    source: { observer: { display: 'carnet' }, site: input.requestId },
    entity: entities.length ? entities : undefined,
  };
}
