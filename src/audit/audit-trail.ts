import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { VersionConflictError } from '../errors.js';
import type { Repository } from '../store/repository.js';
import type { AuditInput, AuditRecord } from './audit-event.js';
import { notification, toAuditEvent } from './audit-event.js';
import { auditEventIndex } from './audit-event-index.js';
import { AuditLogBuilder, auditLogSize, decodeAuditLog } from './audit-log-codec.js';
import type { RowRef } from './audit-log-codec.js';

export type { AuditInput } from './audit-event.js';

/**
 * Key-value namespace of the audit log: batches of records not yet
 * materialised as AuditEvents, in the form of audit-log-codec.ts. A new form
 * gets a new namespace, so that during a rolling upgrade an older replica
 * never meets a batch it cannot read (the newer ones materialise it).
 */
export const AUDIT_LOG_NS = 'audit-log-3';
/** Batches logged by earlier versions (plain arrays of records, then form 2): still read, never written. */
const EARLIER_AUDIT_LOG_NS = ['audit-log', 'audit-log-2'];

export interface AuditTrailOptions {
  /** Clock of the recorded times (injected in tests). */
  now?: () => number;
  /** Records kept in memory at most this long before they are made durable (ms). */
  persistAfterMs?: number;
  /** Materialisation waits for this long without a request before it uses the event loop (ms). */
  idleAfterMs?: number;
  /** Beyond this many durable, unmaterialised records, materialise even under load. */
  maxBacklog?: number;
}

interface LoggedBatch {
  /** The namespace it was logged in (the current form's, or an earlier one). */
  ns: string;
  key: string;
  /** How many records the batch holds. */
  count: number;
  /** How many of them are already AuditEvents. */
  done: number;
  /**
   * The records, only while the batch is being materialised: a long backlog
   * lives in the log alone, not as objects in the heap, where every garbage
   * collection would have to walk it.
   */
  records?: AuditRecord[];
}

/**
 * What stands for one request in the trail (the Fastify request, or any
 * object): its rows in the batch being filled, null before its first audited
 * decision. Kept on the request, not in the trail keyed by its id: a caller
 * may send the same X-Request-ID twice.
 */
export interface AuditedRequest {
  auditRows: RequestRows | null;
}

/** One request's decisions in a batch. */
export interface RequestRows {
  batch: AuditLogBuilder;
  first: RowRef;
  /**
   * Its rows by decision (AuditLogBuilder.decisionKeyOf), made at its second
   * decision only: most requests decide once, and then build no key at all.
   */
  byDecision?: Map<string, RowRef>;
}

/** Records per frame of the audit log. */
const BATCH_RECORDS = 1000;
/** AuditEvents per commit while materialising: small enough not to stall requests (~20 ms). */
const CHUNK = 200;

/**
 * The audit trail: one AuditEvent per access decision that touches patient
 * data, in two steps, so that a read does not pay for a second FHIR resource.
 *
 * 1. `record` keeps a compact record (audit-event.ts); every `persistAfterMs`
 *    or 1000 records, the pending ones become durable in one write to the
 *    store's key-value log (both engines; no engine has to know about audit),
 *    in the compact form of audit-log-codec.ts.
 * 2. Those records are materialised as AuditEvent resources in the background
 *    while the server is idle (or under load once the backlog passes
 *    `maxBacklog`), and always before a request that could read AuditEvents is
 *    answered (`settle`, called by the FHIR routes' hook): whoever reads the
 *    trail sees every access made before, including their own.
 *
 * An AuditEvent's id is fixed when its record is logged, so a batch interrupted
 * by a crash (or taken by two replicas) is materialised once.
 */
export class AuditTrail {
  private readonly now: () => number;
  private readonly persistAfterMs: number;
  private readonly idleAfterMs: number;
  private readonly maxBacklog: number;
  /** Recorded, not yet durable: the batch the next write logs. */
  private pending = new AuditLogBuilder();
  /** Durable in the log, not yet (entirely) AuditEvents. */
  private logged: LoggedBatch[] = [];
  private backlog = 0;
  private persistTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Every step that writes runs on this chain, one at a time. */
  private chain: Promise<void> = Promise.resolve();
  /** Requests seen so far (touch); a timer tick that sees no change found the server quiet. */
  private activity = 0;
  private closed = false;
  /** Whether the operators were told the backlog passed its bound (told again after it halves). */
  private overBound = false;

  constructor(private readonly repository: Repository, private readonly log: FastifyBaseLogger, options: AuditTrailOptions = {}) {
    this.now = options.now ?? Date.now;
    this.persistAfterMs = options.persistAfterMs ?? 50;
    this.idleAfterMs = options.idleAfterMs ?? 100;
    this.maxBacklog = options.maxBacklog ?? 100_000;
  }

  /** Tells the trail the server is busy: background materialisation waits for a quiet moment. */
  touch(): void {
    this.activity++;
  }

  /** How many records are durable but not yet AuditEvents (this process's view). */
  get pendingEvents(): number {
    return this.backlog;
  }

  /**
   * Records one decision. Decisions of the same request (`request` is any
   * object standing for it, see AuditedRequest) about the same patients, with
   * the same outcome, become one AuditEvent naming every resource: a
   * transaction decides once per entry.
   */
  record(input: AuditInput, request?: AuditedRequest): void {
    if (input.compartments.length === 0 && input.resourceType !== 'Patient') return;
    const batch = this.pending;
    // Rows of an earlier batch are written already: a decision after that write starts a new row.
    const mine = request?.auditRows?.batch === batch ? request.auditRows : null;
    let key: string | undefined;
    if (mine) {
      mine.byDecision ??= new Map([[batch.rowDecisionKey(mine.first), mine.first]]);
      key = batch.decisionKeyOf(input);
      const same = mine.byDecision.get(key);
      if (same !== undefined && input.id) return batch.addResource(same, `${input.resourceType}/${input.id}`);
    }
    const row = batch.add(input, this.now());
    if (mine) mine.byDecision!.set(key!, row);
    else if (request) request.auditRows = { batch, first: row };
    if (batch.size >= BATCH_RECORDS) void this.persist();
    else this.persistTimer ??= setTimeout(() => void this.persist(), this.persistAfterMs);
  }

  /**
   * Break-the-glass: besides the AuditEvent (purpose BTG), the holder and their
   * regular doctor are told, through a notification Communication in the space,
   * written before the emergency access is answered (it is rare, and the holder
   * must be able to see it at once).
   */
  async emergencyAccess(principal: Principal, notices: Array<{ patient: string; doctors: string[] }>, reason: string): Promise<void> {
    const who = principal.fhirUser ?? principal.clientId;
    const sent = new Date(this.now()).toISOString();
    const communications = notices.map(({ patient, doctors }) => notification(patient, [patient, ...doctors], 'emergency-access',
      `Accès en urgence à votre espace par ${who} : ${reason} / Emergency access to your space by ${who}: ${reason}`, sent));
    try {
      await this.repository.commit(await Promise.all(communications.map((c) => this.repository.prepareCreate(c, { trusted: true }))));
    } catch (err) {
      this.log.error({ err }, 'audit trail: emergency access notification could not be written');
    }
  }

  /** Picks up batches a previous run (or a replica that stopped) left unmaterialised. */
  async start(): Promise<void> {
    await this.enqueue(async () => {
      await this.adoptLoggedBatches();
      this.scheduleIdleWork();
    });
  }

  /**
   * Makes every access recorded so far durable and materialised, including
   * batches other replicas logged: called before answering anything that may
   * read AuditEvents.
   */
  async settle(): Promise<void> {
    await this.persist();
    await this.enqueue(async () => {
      await this.adoptLoggedBatches();
      while (this.logged.length) await this.materialiseChunk();
    });
  }

  /** On shutdown: what is recorded becomes durable; materialisation resumes at the next start. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    await this.persist();
  }

  private persist(): Promise<void> {
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    const batch = this.pending;
    if (batch.size === 0) return this.chain;
    this.pending = new AuditLogBuilder();
    return this.enqueue(async () => {
      const key = `${this.now().toString(36).padStart(9, '0')}-${randomUUID()}`;
      await this.repository.engine.kv.put(AUDIT_LOG_NS, key, batch.frame());
      this.logged.push({ ns: AUDIT_LOG_NS, key, count: batch.size, done: 0 });
      this.backlog += batch.size;
      if (this.backlog > this.maxBacklog && !this.overBound) {
        this.overBound = true;
        this.log.warn({ backlog: this.backlog, maxBacklog: this.maxBacklog }, 'audit trail: backlog over its bound, AuditEvents are now materialised under load (AUDIT_MAX_BACKLOG)');
      }
      this.scheduleIdleWork();
    });
  }

  private async adoptLoggedBatches(): Promise<void> {
    const known = new Set(this.logged.map((b) => `${b.ns}|${b.key}`));
    const found: Array<{ ns: string; key: string; value: unknown }> = [];
    for (const ns of [...EARLIER_AUDIT_LOG_NS, AUDIT_LOG_NS]) {
      for (const { key, value } of await this.repository.engine.kv.list<unknown>(ns)) found.push({ ns, key, value });
    }
    // Oldest first, whatever the form: keys start with the time they were logged.
    for (const { ns, key, value } of found.sort((a, b) => (a.key < b.key ? -1 : 1))) {
      if (known.has(`${ns}|${key}`)) continue;
      const count = auditLogSize(value);
      this.logged.push({ ns, key, count, done: 0 });
      this.backlog += count;
    }
  }

  /** Materialises up to CHUNK records of the oldest logged batch; drops the batch from the log once whole. */
  private async materialiseChunk(): Promise<void> {
    const batch = this.logged[0];
    if (!batch) return;
    // Gone from the log: another replica materialised it and removed it.
    if (!batch.records) {
      const value = await this.repository.engine.kv.get<unknown>(batch.ns, batch.key);
      batch.records = value === undefined ? [] : decodeAuditLog(value);
    }
    const chunk = batch.records.slice(batch.done, batch.done + CHUNK);
    if (chunk.length) await this.commitEvents(chunk);
    const handled = batch.records.length ? chunk.length : batch.count - batch.done;
    batch.done += handled;
    this.backlog -= handled;
    if (this.backlog <= this.maxBacklog / 2) this.overBound = false;
    if (batch.done >= batch.count) {
      if (batch.records.length) await this.repository.engine.kv.delete(batch.ns, batch.key);
      this.logged.shift();
    }
  }

  private async commitEvents(records: AuditRecord[]): Promise<void> {
    const { repository } = this;
    const prepare = (list: AuditRecord[]) => Promise.all(list.map((r) => repository.prepareCreate(toAuditEvent(r), { id: r.eventId, trusted: { index: auditEventIndex(r) } })));
    try {
      await repository.commit(await prepare(records));
    } catch (err) {
      if (!(err instanceof VersionConflictError)) throw err;
      // Some were written already (a crash after their commit, or another replica): write the others.
      const missing: AuditRecord[] = [];
      for (const r of records) if (!(await repository.engine.current('AuditEvent', r.eventId))) missing.push(r);
      if (missing.length) await repository.commit(await prepare(missing));
    }
  }

  /**
   * While the server is quiet, or while the backlog is over its bound, one
   * chunk after another (each a short commit, so requests interleave);
   * otherwise look again later.
   */
  private scheduleIdleWork(): void {
    if (this.idleTimer || this.closed || this.logged.length === 0) return;
    // A counter rather than a clock read per request: quiet means no request for a whole timer period.
    const seen = this.activity;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      const due = () => this.activity === seen || this.backlog > this.maxBacklog;
      if (!due()) return this.scheduleIdleWork();
      void this.enqueue(async () => {
        while (this.logged.length && !this.closed && due()) {
          await this.materialiseChunk();
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        this.scheduleIdleWork();
      });
    }, this.idleAfterMs);
    this.idleTimer.unref();
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(step).catch((err: unknown) => {
      // An audit that cannot be written is an operational emergency, not a client error.
      this.log.error({ err }, 'audit trail: write failed');
    });
    this.chain = run;
    return run;
  }
}
