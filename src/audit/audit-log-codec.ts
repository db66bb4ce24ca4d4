import type { AuditInput, AuditRecord } from './audit-event.js';

/**
 * How a batch of audit records is kept in the store's key-value log until it
 * is materialised: a table of the strings the records share (who, rule,
 * reason, patients, address...) and one positional row per record. Every
 * request writes a record, so the log's size and the cost of serialising it
 * are paid per request: this form is less than half the size of the records
 * as JSON objects, and arrays of numbers serialise faster than objects.
 */
export interface AuditLogFrame {
  v: 2;
  /** Shared strings, referenced by index from the rows. */
  s: string[];
  r: AuditRow[];
}

/** Absent optional value in a row. */
const NONE = -1;

type AuditRow = [
  eventId: string,
  recorded: number,
  kind: number,
  clientId: number,
  subject: number,
  fhirUser: number,
  action: number,
  interaction: number,
  resourceType: number,
  resources: string[],
  compartments: number[],
  allowed: 0 | 1,
  rule: number,
  reason: number,
  requestId: string,
  purpose: number,
  address: number,
];

export function encodeAuditLog(records: readonly AuditRecord[]): AuditLogFrame {
  const strings: string[] = [];
  const indexOf = new Map<string, number>();
  const intern = (text: string): number => {
    let index = indexOf.get(text);
    if (index === undefined) {
      index = strings.length;
      strings.push(text);
      indexOf.set(text, index);
    }
    return index;
  };
  const optional = (text: string | undefined): number => (text === undefined ? NONE : intern(text));
  const rows = records.map((r): AuditRow => [
    r.eventId, r.recorded,
    intern(r.who.kind), intern(r.who.clientId), intern(r.who.subject), optional(r.who.fhirUser),
    intern(r.action), intern(r.interaction), intern(r.resourceType),
    r.resources, r.compartments.map(intern),
    r.allowed ? 1 : 0, intern(r.rule), intern(r.reason), r.requestId,
    optional(r.purpose), optional(r.address),
  ]);
  return { v: 2, s: strings, r: rows };
}

/** The records of a logged batch; also reads batches logged as plain record arrays (before this form). */
export function decodeAuditLog(value: unknown): AuditRecord[] {
  if (Array.isArray(value)) return value as AuditRecord[];
  const frame = value as AuditLogFrame;
  const s = frame.s;
  return frame.r.map(([eventId, recorded, kind, clientId, subject, fhirUser, action, interaction, resourceType, resources, compartments, allowed, rule, reason, requestId, purpose, address]) => {
    const record: AuditRecord = {
      eventId,
      recorded,
      who: { kind: s[kind] as AuditRecord['who']['kind'], clientId: s[clientId]!, subject: s[subject]! },
      action: s[action] as AuditInput['action'],
      interaction: s[interaction]!,
      resourceType: s[resourceType]!,
      resources,
      compartments: compartments.map((i) => s[i]!),
      allowed: allowed === 1,
      rule: s[rule]!,
      reason: s[reason]!,
      requestId,
    };
    if (fhirUser !== NONE) record.who.fhirUser = s[fhirUser];
    if (purpose !== NONE) record.purpose = s[purpose];
    if (address !== NONE) record.address = s[address];
    return record;
  });
}

/** How many records a logged batch holds, without decoding it. */
export function auditLogSize(value: unknown): number {
  return Array.isArray(value) ? value.length : (value as AuditLogFrame).r.length;
}
