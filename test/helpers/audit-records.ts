import type { AuditInput, AuditRecord } from '../../src/audit/audit-event.js';

/**
 * The record a decision stands for once read back from the audit log
 * (audit-log-codec.ts decodeAuditLog): what the tests of the log, of the
 * AuditEvents and of their index expect, built from the same input.
 */
export function toAuditRecord(input: AuditInput, eventId: string, recorded: number): AuditRecord {
  const { principal } = input;
  const record: AuditRecord = {
    eventId,
    recorded,
    who: { kind: principal.kind, clientId: principal.clientId, subject: principal.subject, fhirUser: principal.fhirUser },
    action: input.action,
    interaction: input.interaction,
    resourceType: input.resourceType,
    resources: input.id ? [`${input.resourceType}/${input.id}`] : [],
    compartments: input.compartments.slice(),
    allowed: input.allowed,
    rule: input.rule,
    reason: input.reason,
    requestId: input.requestId,
  };
  if (input.purpose) record.purpose = input.purpose;
  if (input.address) record.address = input.address;
  return record;
}
