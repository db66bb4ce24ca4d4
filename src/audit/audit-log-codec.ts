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
/** Positions in a row that the builder reads back. */
const INTERACTION = 7;
const RESOURCES = 9;
const COMPARTMENTS = 10;
const ALLOWED = 11;
const RULE = 12;
const PURPOSE = 15;

export type AuditRow = [
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

/**
 * A batch of the log being filled: each decision becomes its row at once, its
 * strings entered in the batch's table, so that what waits for the next write
 * is one small array per access rather than a record object and its parts
 * (they outlive a few young-generation collections, and the old generation
 * then has to collect them), and the write serialises the batch as it is.
 */
export class AuditLogBuilder {
  private readonly strings: string[] = [];
  private readonly indexOf = new Map<string, number>();
  private readonly rows: AuditRow[] = [];

  get size(): number {
    return this.rows.length;
  }

  /** Adds the row of one decision; the row stays open to `addResource` until the batch is written. */
  add(input: AuditInput, eventId: string, recorded: number): AuditRow {
    const who = input.principal;
    const row: AuditRow = [
      eventId, recorded,
      this.intern(who.kind), this.intern(who.clientId), this.intern(who.subject), this.optional(who.fhirUser),
      this.intern(input.action), this.intern(input.interaction), this.intern(input.resourceType),
      input.id ? [`${input.resourceType}/${input.id}`] : [], input.compartments.map((c) => this.intern(c)),
      input.allowed ? 1 : 0, this.intern(input.rule), this.intern(input.reason), input.requestId,
      this.optional(input.purpose), this.optional(input.address),
    ];
    this.rows.push(row);
    return row;
  }

  /** Names one more resource in a row (a request that decided the same way again). */
  addResource(row: AuditRow, reference: string): void {
    const resources = row[RESOURCES];
    if (!resources.includes(reference)) resources.push(reference);
  }

  /**
   * The text that says whether two decisions of one request are the same
   * (they then share one AuditEvent): outcome, rule, purpose, interaction and
   * patients. `input` is compared with a row of this batch.
   */
  decisionKeyOf(input: AuditInput): string {
    return decisionKey(input.interaction, input.allowed, input.rule, input.purpose, input.compartments);
  }

  rowDecisionKey(row: AuditRow): string {
    const s = this.strings;
    return decisionKey(s[row[INTERACTION]]!, row[ALLOWED] === 1, s[row[RULE]]!, row[PURPOSE] === NONE ? undefined : s[row[PURPOSE]], row[COMPARTMENTS].map((i) => s[i]!));
  }

  /** The batch as it is logged. */
  frame(): AuditLogFrame {
    return { v: 2, s: this.strings, r: this.rows };
  }

  private intern(text: string): number {
    let index = this.indexOf.get(text);
    if (index === undefined) {
      index = this.strings.length;
      this.strings.push(text);
      this.indexOf.set(text, index);
    }
    return index;
  }

  private optional(text: string | undefined): number {
    return text ? this.intern(text) : NONE;
  }
}

function decisionKey(interaction: string, allowed: boolean, rule: string, purpose: string | undefined, patients: readonly string[]): string {
  const list = patients.length < 2 ? patients[0] ?? '' : [...patients].sort().join(',');
  return `${interaction}|${allowed}|${rule}|${purpose ?? ''}|${list}`;
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
