import { randomUUID } from 'node:crypto';
import type { AuditInput, AuditRecord } from './audit-event.js';

/**
 * How a batch of audit records is kept in the store's key-value log until it
 * is materialised: a table of the strings the records share (who, rule,
 * reason, patients, address...) and one positional row per record. Every
 * request writes a record, so the log's size and the cost of serialising it
 * are paid per request: this form is about a third of the size of the records
 * as JSON objects, and arrays of small integers serialise faster than objects.
 *
 * Form 3 (this one) leaves out of each row what the batch can say once: the
 * AuditEvent ids are the batch's `e` with the row's number in the last three
 * hex digits, the times are offsets from `t`, and a resource of the row's own
 * type is named by its id alone. Serialising a time in epoch milliseconds (a
 * double, not a small integer) cost more than the rest of the row.
 */
export interface AuditLogFrame {
  v: 3;
  /** The batch's UUID; row i's AuditEvent id ends in i as three hex digits instead. */
  e: string;
  /** When the batch's first access happened (epoch ms); rows hold offsets from it. */
  t: number;
  /** Shared strings, referenced by index from the rows. */
  s: string[];
  r: AuditRow[];
}

/** Form 2, still read: each row carries its event id, its time in epoch ms and full references. */
export interface AuditLogFrameV2 {
  v: 2;
  s: string[];
  r: AuditRowV2[];
}

/** Absent optional value in a row. */
const NONE = -1;
/** Rows a batch may hold: row numbers take the last three hex digits of the batch's UUID. */
export const MAX_BATCH_ROWS = 4096;

export type AuditRow = [
  requestId: string,
  /** ms after the frame's `t` */
  recorded: number,
  kind: number,
  clientId: number,
  subject: number,
  fhirUser: number,
  action: number,
  interaction: number,
  resourceType: number,
  /** An id alone (no '/') is of the row's resourceType; other types are full references. */
  resources: string[],
  compartments: number[],
  allowed: 0 | 1,
  rule: number,
  reason: number,
  purpose: number,
  address: number,
];

export type AuditRowV2 = [
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

/** A row of the batch being filled: its position. */
export type RowRef = number;

/** Columns of a row's table indices in AuditLogBuilder.cells, COLUMNS per row. */
const KIND = 0;
const CLIENT_ID = 1;
const SUBJECT = 2;
const FHIR_USER = 3;
const ACTION = 4;
const INTERACTION = 5;
const RESOURCE_TYPE = 6;
const ALLOWED = 7;
const RULE = 8;
const REASON = 9;
const PURPOSE = 10;
const ADDRESS = 11;
/** The row's only patient, NONE without one, MANY with several (in AuditLogBuilder.compartments). */
const COMPARTMENT = 12;
const COLUMNS = 13;
const MANY = -2;

/**
 * A batch of the log being filled: each decision becomes its row at once, as
 * table indices in one typed array and a few references to strings the
 * request holds anyway. A read's row waits for the next write (up to 50 ms)
 * without being an object: under load, thousands of row arrays and their
 * parts outlived young-generation collections, were copied twice and then
 * left to the old generation. The logged form (AuditLogFrame, rows as arrays)
 * is built by `frame`, where it dies as soon as it is serialised.
 */
export class AuditLogBuilder {
  private readonly strings: string[] = [];
  private readonly indexOf = new Map<string, number>();
  private rows = 0;
  private cells = new Int32Array(64 * COLUMNS);
  private recorded = new Float64Array(64);
  private readonly requestIds: string[] = [];
  /** The id of the row's first resource (of the row's resourceType), undefined without one. */
  private readonly ids: Array<string | undefined> = [];
  /** References named by later decisions of the same request, by row. */
  private readonly moreResources = new Map<RowRef, string[]>();
  /** Patients of rows with several, by row. */
  private readonly compartments = new Map<RowRef, number[]>();
  /**
   * Per column, the last text interned there and its index (-1: none yet).
   * Consecutive rows mostly repeat them (the same client, rule, reason), and
   * comparing with the last one costs less than a Map lookup, which has to
   * hash a text the request built anew.
   */
  private readonly lastText: string[] = new Array<string>(COLUMNS).fill('');
  private readonly lastIndex = new Int32Array(COLUMNS).fill(-1);

  get size(): number {
    return this.rows;
  }

  /** Adds the row of one decision; it stays open to `addResource` until the batch is written. */
  add(input: AuditInput, recorded: number): RowRef {
    if (this.rows === MAX_BATCH_ROWS) throw new Error(`an audit log batch holds at most ${MAX_BATCH_ROWS} rows`);
    const row = this.rows++;
    if (row === this.recorded.length) this.grow();
    const who = input.principal;
    const at = row * COLUMNS;
    const cells = this.cells;
    cells[at + KIND] = this.internIn(KIND, who.kind);
    cells[at + CLIENT_ID] = this.internIn(CLIENT_ID, who.clientId);
    cells[at + SUBJECT] = this.internIn(SUBJECT, who.subject);
    cells[at + FHIR_USER] = who.fhirUser ? this.internIn(FHIR_USER, who.fhirUser) : NONE;
    cells[at + ACTION] = this.internIn(ACTION, input.action);
    cells[at + INTERACTION] = this.internIn(INTERACTION, input.interaction);
    cells[at + RESOURCE_TYPE] = this.internIn(RESOURCE_TYPE, input.resourceType);
    cells[at + ALLOWED] = input.allowed ? 1 : 0;
    cells[at + RULE] = this.internIn(RULE, input.rule);
    cells[at + REASON] = this.internIn(REASON, input.reason);
    cells[at + PURPOSE] = input.purpose ? this.internIn(PURPOSE, input.purpose) : NONE;
    cells[at + ADDRESS] = input.address ? this.internIn(ADDRESS, input.address) : NONE;
    const patients = input.compartments;
    if (patients.length <= 1) cells[at + COMPARTMENT] = patients.length ? this.internIn(COMPARTMENT, patients[0]!) : NONE;
    else {
      cells[at + COMPARTMENT] = MANY;
      this.compartments.set(row, patients.map((c) => this.intern(c)));
    }
    this.recorded[row] = recorded;
    this.requestIds.push(input.requestId);
    this.ids.push(input.id || undefined);
    return row;
  }

  /** Names one more resource in a row (a request that decided the same way again). */
  addResource(row: RowRef, reference: string): void {
    const id = this.ids[row];
    if (id !== undefined && reference === `${this.strings[this.cells[row * COLUMNS + RESOURCE_TYPE]!]}/${id}`) return;
    const more = this.moreResources.get(row);
    if (!more) this.moreResources.set(row, [reference]);
    else if (!more.includes(reference)) more.push(reference);
  }

  /**
   * The text that says whether two decisions of one request are the same
   * (they then share one AuditEvent): outcome, rule, purpose, interaction and
   * patients. `input` is compared with a row of this batch.
   */
  decisionKeyOf(input: AuditInput): string {
    return decisionKey(input.interaction, input.allowed, input.rule, input.purpose, input.compartments);
  }

  rowDecisionKey(row: RowRef): string {
    const s = this.strings;
    const at = row * COLUMNS;
    const purpose = this.cells[at + PURPOSE]!;
    return decisionKey(s[this.cells[at + INTERACTION]!]!, this.cells[at + ALLOWED] === 1, s[this.cells[at + RULE]!]!, purpose === NONE ? undefined : s[purpose], this.patientsOf(row).map((i) => s[i]!));
  }

  /**
   * The batch as it is logged. Its UUID, drawn here, fixes every row's
   * AuditEvent id: from this write on, materialising a row twice writes one
   * AuditEvent.
   */
  frame(batchId: string = randomUUID()): AuditLogFrame {
    const r: AuditRow[] = new Array<AuditRow>(this.rows);
    const cells = this.cells;
    const t = this.rows ? this.recorded[0]! : 0;
    for (let row = 0; row < this.rows; row++) {
      const at = row * COLUMNS;
      const id = this.ids[row];
      const first = id === undefined ? [] : [id];
      const more = this.moreResources.get(row);
      const offset = this.recorded[row]! - t;
      r[row] = [
        // `| 0` keeps the offset a small integer for the serialiser (it always is one, short of a clock jump of weeks).
        this.requestIds[row]!, (offset | 0) === offset ? offset | 0 : offset,
        cells[at + KIND]!, cells[at + CLIENT_ID]!, cells[at + SUBJECT]!, cells[at + FHIR_USER]!,
        cells[at + ACTION]!, cells[at + INTERACTION]!, cells[at + RESOURCE_TYPE]!,
        more ? [...first, ...more.map((ref) => this.ownTypeId(row, ref))] : first, this.patientsOf(row),
        cells[at + ALLOWED] as 0 | 1, cells[at + RULE]!, cells[at + REASON]!,
        cells[at + PURPOSE]!, cells[at + ADDRESS]!,
      ];
    }
    return { v: 3, e: batchId, t, s: this.strings, r };
  }

  /** A reference as the row names it: its id alone when it is of the row's resourceType. */
  private ownTypeId(row: RowRef, reference: string): string {
    const type = this.strings[this.cells[row * COLUMNS + RESOURCE_TYPE]!]!;
    return reference.length > type.length && reference[type.length] === '/' && reference.startsWith(type) ? reference.slice(type.length + 1) : reference;
  }

  private patientsOf(row: RowRef): number[] {
    const first = this.cells[row * COLUMNS + COMPARTMENT]!;
    return first === MANY ? this.compartments.get(row)! : first === NONE ? [] : [first];
  }

  private grow(): void {
    const cells = new Int32Array(this.cells.length * 2);
    cells.set(this.cells);
    this.cells = cells;
    const recorded = new Float64Array(this.recorded.length * 2);
    recorded.set(this.recorded);
    this.recorded = recorded;
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

  /** `intern`, through the column's last text. */
  private internIn(column: number, text: string): number {
    if (this.lastIndex[column]! >= 0 && this.lastText[column] === text) return this.lastIndex[column]!;
    const index = this.intern(text);
    this.lastText[column] = text;
    this.lastIndex[column] = index;
    return index;
  }
}

function decisionKey(interaction: string, allowed: boolean, rule: string, purpose: string | undefined, patients: readonly string[]): string {
  const list = patients.length < 2 ? patients[0] ?? '' : [...patients].sort().join(',');
  return `${interaction}|${allowed}|${rule}|${purpose ?? ''}|${list}`;
}

/** Row i's AuditEvent id in a batch whose UUID is `batchId`. */
export function eventIdOf(batchId: string, row: number): string {
  return `${batchId.slice(0, 33)}${row.toString(16).padStart(3, '0')}`;
}

/** The records of a logged batch, of any form: 3, 2, or plain record arrays (the first). */
export function decodeAuditLog(value: unknown): AuditRecord[] {
  if (Array.isArray(value)) return value as AuditRecord[];
  const frame = value as AuditLogFrame | AuditLogFrameV2;
  if (frame.v === 2) {
    return frame.r.map(([eventId, recorded, kind, clientId, subject, fhirUser, action, interaction, resourceType, resources, compartments, allowed, rule, reason, requestId, purpose, address]) =>
      toRecord(frame.s, eventId, recorded, [kind, clientId, subject, fhirUser, action, interaction, resourceType, allowed, rule, reason, purpose, address], resources, compartments, requestId));
  }
  const s = frame.s;
  return frame.r.map(([requestId, offset, kind, clientId, subject, fhirUser, action, interaction, resourceType, resources, compartments, allowed, rule, reason, purpose, address], row) => {
    const type = s[resourceType]!;
    const references = resources.map((r) => (r.includes('/') ? r : `${type}/${r}`));
    return toRecord(s, eventIdOf(frame.e, row), frame.t + offset, [kind, clientId, subject, fhirUser, action, interaction, resourceType, allowed, rule, reason, purpose, address], references, compartments, requestId);
  });
}

function toRecord(s: string[], eventId: string, recorded: number, cells: number[], resources: string[], compartments: number[], requestId: string): AuditRecord {
  const [kind, clientId, subject, fhirUser, action, interaction, resourceType, allowed, rule, reason, purpose, address] = cells as [number, number, number, number, number, number, number, number, number, number, number, number];
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
}

/** How many records a logged batch holds, without decoding it. */
export function auditLogSize(value: unknown): number {
  return Array.isArray(value) ? value.length : (value as AuditLogFrame | AuditLogFrameV2).r.length;
}
