import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Binary, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { BadRequestError, FhirError, PayloadTooLargeError, PreconditionFailedError, ResourceGoneError, ResourceNotFoundError, UnprocessableError, VersionConflictError } from '../errors.js';
import { AUDIT_ORIGIN } from '../audit/audit-event.js';
import { SUBSETTED } from '../fhir/summary.js';
import type { SearchRequest } from '../fhir/search/parse.js';
import { parseSearchRequest } from '../fhir/search/parse.js';
import type { ExtractedIndex } from '../fhir/search/extract.js';
import { isResourceType, isValidId } from '../fhir/resource-types.js';
import type { Filter, HistoryQuery, StoreEngine, VersionRecord, WriteOp } from './engine.js';
import { namesVersion, requireEntityTags } from '../fhir/entity-tags.js';
import { mayHaveLanded } from './engine.js';
import type { SearchResult } from './search-executor.js';
import { executeSearch } from './search-executor.js';
import type { AnalysisOffload, ValidateHook, VersionAnalysis } from './version-analysis.js';
import { analyseVersion } from './version-analysis.js';
import { runWithLease } from './conditional-lease.js';
import type { CreatingCondition } from './condition-check.js';
import { refuseUnmetCondition } from './condition-check.js';
import { ResourceTurns, writeInTurn } from './resource-turns.js';
import { extractIndex } from '../fhir/search/extract.js';
import type { Period } from '../fhir/instant.js';
import { isBase64Binary } from '../fhir/validation/base64.js';

export type { ValidateHook } from './version-analysis.js';

export interface RepositoryOptions {
  engine: StoreEngine;
  validate: ValidateHook;
  /** Injected clock, so tests never sleep. */
  now?: () => number;
  newId?: () => string;
  search: { defaultCount: number; maxCount: number };
  /** The FHIR base, so that absolute references to this server search like relative ones. */
  fhirBase?: string;
  /** The largest Binary content a JSON Patch may set (`/data`); unbounded when absent. */
  binaryMaxBytes?: number;
  /**
   * Validation and indexing of new resources on other threads
   * (write-workers/); absent, or not ready: in this thread.
   */
  offload?: AnalysisOffload;
  /**
   * Conditional interactions also take turns with other servers on the same
   * store, through a lease in its key-value store (conditional-lease.ts).
   * Default: with MongoDB, which several replicas share; the embedded engine
   * locks its data directory to one server.
   */
  conditionalLease?: boolean;
  /** Where the repository reports what it recovers from (a lease it could not give back). */
  log?: { warn: (obj: object, msg: string) => void };
}

/** The most versions one engine call of an `_at` history scan asks for. */
const HISTORY_SCAN_BATCH_MAX = 1000;

/** See LeaseOptions.ttlMs: longer than any conditional interaction or transaction should take. */
const CONDITIONAL_LEASE_MS = 60_000;

export interface WriteResult {
  record: VersionRecord;
  /** true for 201 (a new resource), false for 200 (updated or an existing match). */
  created: boolean;
  /** Validation warnings, reported with Prefer: return=OperationOutcome. */
  warnings: OperationOutcomeIssue[];
  /** Why no version was written, when none was: a conditional create's match, an update that changed nothing. */
  unwritten?: 'matched' | 'unchanged';
}

/** A write waiting for its commit; transactions gather several and commit them at once. */
export interface PreparedWrite {
  op?: WriteOp;
  result: WriteResult;
  /**
   * New Binary content that becomes the version's blob when it commits (a
   * JSON Patch that set `/data`): stored by `commit`, so that a write that
   * never commits leaves no bytes behind.
   */
  bytes?: Buffer;
  /**
   * The current version an update left as it was (nothing to commit): the
   * write is still judged on it, as an update of it would be.
   */
  unchanged?: VersionRecord;
}

/** The caller's access policy as a search filter per type (null: the type is hidden); see access/guard.ts searchRestriction. */
export interface SearchRestriction {
  (type: string): Filter | null;
  /**
   * Changes a parsed query before it runs so that it tells nothing the
   * caller may not read (access/hidden-names.ts: a value naming a hidden
   * resource matches nothing).
   */
  reviseQuery?(parsed: SearchRequest): Promise<void>;
}

/**
 * How a conditional update or delete stays within what its caller may do.
 * `restrict`: only what the caller may see can match, so a hidden resource
 * counts as no match (and never as one of several). `rules`: called on the
 * one match (`current`), or with none before an update creates, once the
 * match is known and before anything is prepared: the policy's check of the
 * current version and the domain's rules; returns the resource to store
 * (`next` for an update, undefined for a delete).
 */
export interface ConditionalAccess {
  restrict?: SearchRestriction;
  rules?: (current: VersionRecord | undefined, next: Resource | undefined) => Promise<Resource | undefined> | Resource | undefined;
}

/** A resource the server built itself: not validated, and indexed as given when its builder knows the index. */
export interface ServerBuilt {
  /** Must equal what extractIndex would compute (the builder's tests check it). */
  index?: ExtractedIndex;
}

/**
 * Called with the version about to be written (its compartments are known
 * then), before the commit: the access policy's last word on a write.
 */
export type WriteCheck = (record: VersionRecord) => void | Promise<void>;

export interface HistoryRequest {
  type?: string;
  id?: string;
  /** `_since`: only versions written at or after it (epoch ms). */
  since?: number;
  /** `_at`: only versions that were current at some point of this period (closed, epoch ms). */
  at?: Period;
  count: number;
  cursor?: string;
}

export interface HistoryPage {
  records: VersionRecord[];
  next?: string;
}

/**
 * FHIR semantics over any StoreEngine: ids, versions, meta, validation, index
 * extraction, conditional interactions. Engines stay thin; this is the one
 * tested piece of code that carries the rules for both. It does not know who
 * is asking: the per-request guard (auth/guarded-repository.ts) applies the
 * access policy around it.
 */
/**
 * An update this large is analysed on a write worker too, as a create is:
 * validating and indexing a resource of megabytes takes the main thread
 * seconds, during which no other request is answered. Smaller updates stay in
 * the main thread (README, "Where it runs").
 */
const OFFLOADED_UPDATE_CHARS = 64 * 1024;

export class Repository {
  readonly engine: StoreEngine;
  private readonly validate: ValidateHook;
  private readonly offload: AnalysisOffload | undefined;
  private readonly conditionalLease: boolean;
  private readonly log: RepositoryOptions['log'];
  private readonly binaryMaxBytes: number;
  private readonly now: () => number;
  private readonly newId: () => string;
  readonly searchLimits: { defaultCount: number; maxCount: number; baseUrl?: string };
  /** See `serialised`. */
  private conditionalQueue: Promise<unknown> = Promise.resolve();
  /** Writes to one resource on this server, one after the other (see ResourceTurns). */
  readonly turns: ResourceTurns;

  constructor(options: RepositoryOptions) {
    this.engine = options.engine;
    this.validate = options.validate;
    this.offload = options.offload;
    this.conditionalLease = options.conditionalLease ?? options.engine.kind === 'mongodb';
    this.log = options.log;
    this.binaryMaxBytes = options.binaryMaxBytes ?? Number.POSITIVE_INFINITY;
    this.now = options.now ?? Date.now;
    this.newId = options.newId ?? randomUUID;
    this.searchLimits = { ...options.search, baseUrl: options.fhirBase };
    // A Binary's turn is also its turn among replicas: the document content rules
    // (space/documents/document-content.ts) judge a document and its Binary's deletion in it.
    const lease = { ttlMs: CONDITIONAL_LEASE_MS, now: this.now, log: this.log };
    this.turns = new ResourceTurns(this.conditionalLease
      ? (key, work) => (key.startsWith('Binary/') ? runWithLease(this.engine.kv, work, { ...lease, key: `turn:${key}` }) : work())
      : undefined);
  }

  /** The id a create would be given: for a caller that must record something under it before the resource exists. */
  newResourceId(): string {
    return this.newId();
  }

  /** [read](https://hl7.org/fhir/R4/http.html#read): 404 unknown, 410 deleted. */
  async read(type: string, id: string): Promise<VersionRecord> {
    checkTypeAndId(type, id);
    const record = await this.engine.current(type, id);
    if (!record) throw new ResourceNotFoundError(type, id);
    if (record.deleted) throw new ResourceGoneError(type, id, String(record.vid), record.lastUpdated);
    return record;
  }

  /** [vread](https://hl7.org/fhir/R4/http.html#vread): a deleted version answers 410. */
  async vread(type: string, id: string, versionId: string): Promise<VersionRecord> {
    checkTypeAndId(type, id);
    const vid = /^[1-9]\d{0,9}$/.test(versionId) ? Number(versionId) : 0;
    const record = vid ? await this.engine.version(type, id, vid) : undefined;
    if (!record) throw new ResourceNotFoundError(type, id, versionId);
    if (record.deleted) throw new ResourceGoneError(type, id, versionId, record.lastUpdated);
    return record;
  }

  /**
   * [create](https://hl7.org/fhir/R4/http.html#create), with If-None-Exist when
   * `ifNoneExist` is given (only what `restrict` lets the caller see can match).
   */
  async create(resource: Resource, options: { ifNoneExist?: string; id?: string; blob?: string; check?: WriteCheck; restrict?: SearchRestriction } = {}): Promise<WriteResult> {
    if (options.ifNoneExist === undefined) return this.commitOne(await this.prepareCreate(resource, options), options.check);
    return this.serialised(async () => this.commitOne(await this.prepareCreate(resource, options), options.check));
  }

  /** [update](https://hl7.org/fhir/R4/http.html#update): creates when the id is new (update as create). */
  async update(type: string, id: string, resource: Resource, options: { ifMatch?: string; blob?: string; method?: 'PUT' | 'PATCH'; check?: WriteCheck } = {}): Promise<WriteResult> {
    return this.commitOne(await this.prepareUpdate(type, id, resource, { ...options, keepUnchanged: true }), options.check);
  }

  /** [conditional update](https://hl7.org/fhir/R4/http.html#cond-update); see ConditionalAccess. */
  async conditionalUpdate(type: string, query: Array<[string, string]>, resource: Resource, options: { ifMatch?: string; check?: WriteCheck } & ConditionalAccess = {}): Promise<WriteResult> {
    return this.serialised(() => this.inTurnOfMatch(type, query, options, async (matches) =>
      this.commitOne(await this.prepareConditionalUpdate(type, query, matches, resource, { ...options, keepUnchanged: true }), options.check)));
  }

  /** [delete](https://hl7.org/fhir/R4/http.html#delete): deleting an unknown or deleted resource succeeds. */
  async delete(type: string, id: string, options: { ifMatch?: string; check?: WriteCheck } = {}): Promise<WriteResult | undefined> {
    const prepared = await this.prepareDelete(type, id, options);
    return prepared ? this.commitOne(prepared, options.check) : undefined;
  }

  /** [conditional delete](https://hl7.org/fhir/R4/http.html#cdelete): one match deleted; several is 412. See ConditionalAccess. */
  async conditionalDelete(type: string, query: Array<[string, string]>, options: { check?: WriteCheck } & ConditionalAccess = {}): Promise<WriteResult | undefined> {
    return this.serialised(() => this.inTurnOfMatch(type, query, options, async (matches) => {
      if (matches.length > 1) throw new PreconditionFailedError('FHIR_ERR_STORE_MULTIPLE_MATCHES', `Conditional delete matched more than one ${type}`);
      if (matches.length === 0) return undefined;
      await options.rules?.(matches[0], undefined);
      const prepared = await this.prepareDelete(type, matches[0].id, {});
      return prepared ? this.commitOne(prepared, options.check) : undefined;
    }));
  }

  /**
   * Runs a conditional write on what its condition matches, in the turn of
   * the one resource it matched (resource-turns.ts), as a direct write to
   * that resource would run: otherwise a direct PUT landing between the match
   * and the commit made either of them a 409 the client never asked for (no
   * If-Match). The match is found again in the turn, and looked for afresh
   * when a write before it changed what matches.
   */
  private async inTurnOfMatch<T>(type: string, query: Array<[string, string]>, options: { ifMatch?: string } & ConditionalAccess, work: (matches: VersionRecord[]) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const found = await this.findMatches(type, query, 2, options.restrict);
      if (found.length !== 1) return work(found);
      const id = found[0].id;
      const outcome = await writeInTurn(this.turns, type, id, options.ifMatch, async () => {
        const matches = await this.findMatches(type, query, 2, options.restrict);
        return matches.length === 1 && matches[0].id === id ? { done: true as const, value: await work(matches) } : { done: false as const };
      });
      if (outcome.done) return outcome.value;
      if (attempt >= 5) throw new VersionConflictError(`What matches the condition kept changing under concurrent writes to ${type}`);
    }
  }

  /**
   * `condition`: the condition the caller searched already, which matched
   * nothing (a Bundle's `ifNoneExist`): the new resource must satisfy it, as
   * it must satisfy an `ifNoneExist` that matches nothing here (condition-check.ts).
   */
  async prepareCreate(resource: Resource, options: { ifNoneExist?: string; id?: string; blob?: string; trusted?: boolean | ServerBuilt; inThread?: boolean; restrict?: SearchRestriction; condition?: CreatingCondition } = {}): Promise<PreparedWrite> {
    const type = resource.resourceType;
    if (options.ifNoneExist === undefined) return this.prepareVersion(resource, type, options.id ?? this.newId(), undefined, 'POST', 'create', options);
    const query = queryPairs(options.ifNoneExist);
    const matches = await this.findMatches(type, query, 2, options.restrict);
    if (matches.length > 1) throw new PreconditionFailedError('FHIR_ERR_STORE_MULTIPLE_MATCHES', `If-None-Exist matched more than one ${type}`);
    if (matches.length === 1) return { result: { record: matches[0], created: false, warnings: [], unwritten: 'matched' } };
    return this.prepareVersion(resource, type, options.id ?? this.newId(), undefined, 'POST', 'create', { ...options, condition: { source: 'If-None-Exist', query } });
  }

  /**
   * `keepUnchanged`: an update whose resource is the current version's as
   * stored (meta.versionId and meta.lastUpdated aside) writes no version and
   * answers the current one, as HAPI and Medplum do; only for a caller that
   * runs the write check on `unchanged` (commitOne).
   */
  async prepareUpdate(type: string, id: string, resource: Resource, options: { ifMatch?: string; method?: 'PUT' | 'PATCH'; blob?: string; inThread?: boolean; keepUnchanged?: boolean; condition?: CreatingCondition }): Promise<PreparedWrite> {
    checkTypeAndId(type, id);
    if (resource.resourceType !== type) {
      throw new BadRequestError('FHIR_ERR_REST_TYPE_MISMATCH', `Body resourceType ${String(resource.resourceType)} does not match the URL type ${type}`, { expression: ['resourceType'] });
    }
    if (resource.id !== undefined && resource.id !== id) {
      throw new BadRequestError('FHIR_ERR_REST_ID_MISMATCH', `Body id ${String(resource.id)} does not match the URL id ${id}`, { expression: [`${type}.id`] });
    }
    if (resource.id === undefined) {
      throw new BadRequestError('FHIR_ERR_REST_ID_MISSING', 'An update must carry the resource id in the body', { expression: [`${type}.id`] });
    }
    const current = await this.engine.current(type, id);
    checkIfMatch(options.ifMatch, current, type, id);
    if (type === 'Binary' && options.method === 'PATCH' && options.blob === undefined) return this.prepareBinaryPatch(resource as Binary, id, current, options);
    if (options.keepUnchanged && current && isUnchanged(resource, current)) return { result: { record: current, created: false, warnings: [], unwritten: 'unchanged' }, unchanged: current };
    return this.prepareVersion(resource, type, id, current, options.method ?? 'PUT', 'update', options);
  }

  /**
   * A JSON Patch of a Binary (the PATCH interaction, or a transaction's PATCH
   * entry): the stored Binary never holds `data`, its bytes are the version's
   * blob. A patch that leaves `/data` alone keeps the current bytes; one that
   * sets it (`add`) stores the new content as a PUT with `data` would.
   */
  private async prepareBinaryPatch(resource: Binary, id: string, current: VersionRecord | undefined, options: { inThread?: boolean }): Promise<PreparedWrite> {
    const { data, ...rest } = resource;
    if (data === undefined) return this.prepareVersion(rest, 'Binary', id, current, 'PATCH', 'update', { ...options, blob: current?.blob });
    if (typeof data !== 'string' || !isBase64Binary(data)) {
      throw new BadRequestError('FHIR_ERR_REST_BINARY_DATA', 'Binary.data must be base64', { expression: ['Binary.data'] });
    }
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length > this.binaryMaxBytes) throw new PayloadTooLargeError(`Binary content is limited to ${this.binaryMaxBytes} bytes`);
    const prepared = await this.prepareVersion(rest, 'Binary', id, current, 'PATCH', 'update', options);
    prepared.bytes = bytes;
    return prepared;
  }

  /**
   * A conditional update on what its condition (`query`) matched (`matches`:
   * at most two). When it matched nothing it creates, and what it creates
   * must satisfy the condition (condition-check.ts).
   */
  async prepareConditionalUpdate(type: string, query: Array<[string, string]>, matches: VersionRecord[], written: Resource, options: { ifMatch?: string; keepUnchanged?: boolean } & ConditionalAccess): Promise<PreparedWrite> {
    if (matches.length > 1) throw new PreconditionFailedError('FHIR_ERR_STORE_MULTIPLE_MATCHES', `Conditional update matched more than one ${type}`);
    if (matches.length === 1) {
      const id = matches[0].id;
      if (written.id !== undefined && written.id !== id) {
        throw new BadRequestError('FHIR_ERR_REST_ID_MISMATCH', `Body id ${written.id} is not the id of the matching ${type} (${id})`);
      }
      const resource = (await options.rules?.(matches[0], written)) ?? written;
      // `keepUnchanged`: a body that changes nothing writes no version, as a PUT by id (prepareUpdate).
      return this.prepareUpdate(type, id, { ...resource, id }, { ifMatch: options.ifMatch, keepUnchanged: options.keepUnchanged });
    }
    if (written.resourceType !== type) {
      throw new BadRequestError('FHIR_ERR_REST_TYPE_MISMATCH', `Body resourceType ${String(written.resourceType)} does not match the URL type ${type}`);
    }
    const resource = (await options.rules?.(undefined, written)) ?? written;
    const condition: CreatingCondition = { source: 'conditional update', query };
    // No match: create, with the client's id when it gave one (as HAPI and the spec allow).
    if (resource.id !== undefined) {
      checkTypeAndId(type, resource.id);
      const current = await this.engine.current(type, resource.id);
      if (current && !current.deleted) throw new VersionConflictError(`${type}/${resource.id} exists but does not match the condition`);
      return this.prepareVersion(resource, type, resource.id, current, 'PUT', 'update', { condition });
    }
    return this.prepareVersion(resource, type, this.newId(), undefined, 'PUT', 'create', { condition });
  }

  async prepareDelete(type: string, id: string, options: { ifMatch?: string }): Promise<PreparedWrite | undefined> {
    checkTypeAndId(type, id);
    const current = await this.engine.current(type, id);
    checkIfMatch(options.ifMatch, current, type, id);
    if (!current || current.deleted) return undefined;
    const record = this.newRecord(type, id, current, 'DELETE');
    return { op: { record, expectVid: current.vid }, result: { record, created: false, warnings: [] } };
  }

  /** Commits several prepared writes atomically (transactions). */
  async commit(prepared: PreparedWrite[]): Promise<void> {
    const ops = prepared.flatMap((p) => (p.op ? [p.op] : []));
    if (ops.length) await this.commitWithBytes(prepared, ops);
  }

  /** [history](https://hl7.org/fhir/R4/http.html#history) of an instance, a type, or the whole system; newest first. */
  async history(request: HistoryRequest): Promise<HistoryPage> {
    if (request.type !== undefined && !isResourceType(request.type)) throw unknownType(request.type);
    if (request.type !== undefined && request.id !== undefined) {
      checkTypeAndId(request.type, request.id);
      if (!(await this.engine.current(request.type, request.id))) throw new ResourceNotFoundError(request.type, request.id);
    }
    if (request.count === 0) return { records: [] };
    const query: HistoryQuery = { type: request.type, id: request.id, since: request.since, at: request.at?.end, limit: request.count + 1 };
    if (request.cursor) query.afterKey = decodeCursor(request.cursor);
    const records = request.at ? await this.currentDuring(request.at, query, request.count + 1) : await this.engine.history(query);
    const page = records.slice(0, request.count);
    return { records: page, next: records.length > request.count ? encodeCursor(page[page.length - 1].hk) : undefined };
  }

  /**
   * Up to `wanted` versions, newest first, that were current at some point of
   * `period` (https://hl7.org/fhir/R4/http.html#history, `_at`): written no
   * later than its end (the engine's `at`), and not superseded before its
   * start. A version written before the start was current into the period
   * unless its successor (vid + 1) was written at or before the start. The
   * engine is asked again, further back, while superseded versions leave the
   * page short; every version skipped lies before the last one kept, so a
   * cursor after that one neither skips nor repeats.
   */
  private async currentDuring(period: Period, query: HistoryQuery, wanted: number): Promise<VersionRecord[]> {
    const kept: VersionRecord[] = [];
    // Versions seen in this scan, by type/id/vid: a successor is often among them.
    const seen = new Map<string, number>();
    let limit = wanted;
    for (;;) {
      const batch = await this.engine.history({ ...query, limit });
      for (const r of batch) seen.set(`${r.type}/${r.id}/${r.vid}`, r.ts);
      // Written during the period: current then. Written before: current into it unless superseded by its start.
      const successors = await Promise.all(batch.map((r) => (r.ts >= period.start ? undefined : successorTs(this.engine, r, seen))));
      for (const [i, r] of batch.entries()) {
        const next = successors[i];
        if (next === undefined || next > period.start) kept.push(r);
        if (kept.length === wanted) return kept;
      }
      if (batch.length < limit) return kept;
      query = { ...query, afterKey: batch[batch.length - 1].hk };
      // Long runs of superseded versions (type or system history): fewer round trips.
      limit = Math.min(limit * 2, HISTORY_SCAN_BATCH_MAX);
    }
  }

  async search(request: SearchRequest, restrict?: (type: string) => Filter | null): Promise<SearchResult> {
    return executeSearch(this.engine, request, { restrict });
  }

  parseSearch(types: string[], query: Array<[string, string]>, strict: boolean): SearchRequest {
    for (const type of types) if (!isResourceType(type)) throw unknownType(type);
    return parseSearchRequest(types, query, { strict, ...this.searchLimits });
  }

  /**
   * Builds the stored form of a new version: meta set by the server,
   * validated, indexed. `trusted`: the server built this resource itself
   * (AuditEvents, notifications) from a shape a unit test validates, so it
   * skips validation on the hot path; a builder that knows the search index of
   * what it built passes it too. `inThread`: never on a write worker (see
   * `analyse`). `condition`: the version is created under it, and must
   * satisfy it (condition-check.ts); tested on its index, once computed.
   */
  async prepareVersion(resource: Resource, type: string, id: string, current: VersionRecord | undefined, method: VersionRecord['method'], mode: 'create' | 'update',
    { blob, trusted = false, inThread = false, condition }: { blob?: string; trusted?: boolean | ServerBuilt; inThread?: boolean; condition?: CreatingCondition } = {}): Promise<PreparedWrite> {
    if (resource.resourceType !== type) {
      throw new BadRequestError('FHIR_ERR_REST_TYPE_MISMATCH', `Body resourceType ${String(resource.resourceType)} does not match ${type}`);
    }
    if (!trusted) {
      refuseSubsetted(resource);
      if (type === 'AuditEvent') refuseServerOrigin(resource);
    }
    const record = this.newRecord(type, id, current, method);
    const stored = storedForm(resource, type, id, record.vid, record.lastUpdated);
    record.json = JSON.stringify(stored);
    const { warnings, idx, srt, comp, indexJson } = trusted
      ? { warnings: [], indexJson: undefined, ...((typeof trusted === 'object' ? trusted.index : undefined) ?? extractIndex(stored, { baseUrl: this.searchLimits.baseUrl })) }
      : await this.analyse(stored, record.json, mode, (current === undefined || record.json.length >= OFFLOADED_UPDATE_CHARS) && !inThread);
    record.idx = idx;
    record.srt = srt;
    record.comp = comp;
    record.deleted = false;
    if (condition) await this.refuseUnmet(record, condition);
    if (blob) record.blob = blob;
    const op: WriteOp = { record, expectVid: current?.vid ?? 0 };
    if (indexJson !== undefined) op.indexJson = indexJson;
    return { op, result: { record, created: !current || current.deleted, warnings } };
  }

  /**
   * Analysis of a resource that is new may run on a write worker; a new
   * version of an existing one is analysed here, so that the time between
   * reading its current version and committing stays short. The entries of a
   * batch Bundle are analysed here too (`inThread`): they commit one after
   * another, and a round trip to the worker per entry cost more than it saved.
   */
  private analyse(stored: Resource, json: string, mode: 'create' | 'update', offloadable: boolean): VersionAnalysis | Promise<VersionAnalysis> {
    return (offloadable ? this.offload?.analyse(json, mode) : undefined) ?? analyseVersion(stored, mode, this.validate, this.searchLimits.baseUrl);
  }

  private newRecord(type: string, id: string, current: VersionRecord | undefined, method: VersionRecord['method']): VersionRecord {
    // lastUpdated never goes backwards for one resource, even if the clock does.
    const ts = Math.max(this.now(), (current?.ts ?? 0) + 1);
    const lastUpdated = new Date(ts).toISOString();
    return {
      type, id, vid: (current?.vid ?? 0) + 1, ts, lastUpdated,
      hk: `${lastUpdated}|${randomUUID()}`,
      deleted: method === 'DELETE', json: '', idx: {}, srt: {}, comp: method === 'DELETE' ? current?.comp ?? [] : [], method,
    };
  }

  private async commitOne(prepared: PreparedWrite, check?: WriteCheck): Promise<WriteResult> {
    if (prepared.unchanged) await check?.(prepared.unchanged);
    if (prepared.op) {
      await check?.(prepared.op.record);
      await this.commitWithBytes([prepared], [prepared.op]);
    }
    return prepared.result;
  }

  /** Commits `ops`, first storing the new Binary content of `prepared` as blobs; dropped again when the commit fails. */
  private async commitWithBytes(prepared: PreparedWrite[], ops: WriteOp[]): Promise<void> {
    const stored: string[] = [];
    try {
      for (const p of prepared) {
        if (!p.op || p.bytes === undefined) continue;
        const info = await this.engine.blobs.put(Readable.from([p.bytes]), { maxBytes: this.binaryMaxBytes });
        stored.push(info.key);
        p.op.record.blob = info.key;
        p.bytes = undefined;
      }
      await this.engine.commit(ops);
    } catch (err) {
      if (!mayHaveLanded(err)) await Promise.all(stored.map((key) => this.engine.blobs.delete(key).catch(() => undefined)));
      throw err;
    }
  }

  /**
   * Refuses (400) a version created under `condition` that does not satisfy
   * it. The condition is parsed again as the search that matched nothing was,
   * but without the access policy's revision of it (access/hidden-names.ts):
   * the answer depends only on what the client sent, the condition and the
   * resource, and so tells nothing of what the caller may not see.
   */
  private async refuseUnmet(record: VersionRecord, condition: CreatingCondition): Promise<void> {
    const request = parseSearchRequest([record.type], conditionQuery(condition.query, 2), { strict: true, ...this.searchLimits });
    await refuseUnmetCondition(record, condition.source, request);
  }

  private async findMatches(type: string, query: Array<[string, string]>, limit: number, restrict?: SearchRestriction): Promise<VersionRecord[]> {
    if (!isResourceType(type)) throw unknownType(type);
    const request = parseSearchRequest([type], conditionQuery(query, limit), { strict: true, ...this.searchLimits });
    await restrict?.reviseQuery?.(request);
    const result = await executeSearch(this.engine, request, { restrict });
    return result.matches;
  }

  /**
   * Runs a conditional interaction (search, then write on what it found) once
   * every one queued before it has finished, so that two concurrent
   * If-None-Exist creates cannot both create; with `conditionalLease`, also
   * in turn with the other servers on the store. `work` must not queue here
   * itself: it would wait for its own end. The queue comes before every
   * resource turn (resource-turns.ts turnOrder): `work` may take turns, but
   * nothing that holds a turn may queue here.
   */
  serialised<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.conditionalLease ? () => runWithLease(this.engine.kv, work, { ttlMs: CONDITIONAL_LEASE_MS, now: this.now, log: this.log }) : work;
    const run = this.conditionalQueue.then(turn, turn);
    this.conditionalQueue = run.catch(() => undefined);
    return run;
  }
}

/** A client may record its own AuditEvents, never as the server's: AUDIT_ORIGIN marks those the server recorded. */
function refuseServerOrigin(resource: Resource): void {
  if (hasTag(resource, AUDIT_ORIGIN.system)) {
    throw new UnprocessableError('FHIR_ERR_AUDIT_ORIGIN', `The tag ${AUDIT_ORIGIN.system} marks the AuditEvents this server records itself; a client's AuditEvent may not carry it`, { expression: ['AuditEvent.meta.tag'] });
  }
}

/**
 * A resource tagged SUBSETTED is incomplete (a summary, a List without the
 * items hidden from its reader): FHIR says it must not be used to update
 * (search.html#summary), and storing it would both lose what it leaves out and
 * keep the tag. Any write of one is a 422, whichever route it came by (REST,
 * Bundle entry, Binary, Subscription).
 */
function refuseSubsetted(resource: Resource): void {
  if (!hasTag(resource, SUBSETTED.system!, SUBSETTED.code)) return;
  throw new UnprocessableError('FHIR_ERR_REST_SUBSETTED',
    `A resource tagged ${SUBSETTED.code} (${SUBSETTED.system}) is incomplete and cannot be written: send it without that tag, as a whole resource`,
    { expression: [`${resource.resourceType}.meta.tag`] });
}

/** Whether `resource` carries the tag; checked before validation, so the body may be anything a client sent. */
function hasTag(resource: Resource, system: string, code?: string): boolean {
  const tags: unknown = (resource.meta as { tag?: unknown } | null | undefined)?.tag;
  return Array.isArray(tags) && tags.some((tag: { system?: unknown; code?: unknown } | null) => tag?.system === system && (code === undefined || tag?.code === code));
}

/** When the version after `record` was written (epoch ms); undefined when `record` is the newest. */
async function successorTs(engine: StoreEngine, record: VersionRecord, seen: Map<string, number>): Promise<number | undefined> {
  const known = seen.get(`${record.type}/${record.id}/${record.vid + 1}`);
  if (known !== undefined) return known;
  const current = await engine.current(record.type, record.id);
  if (!current || current.vid <= record.vid) return undefined;
  if (current.vid === record.vid + 1) return current.ts;
  return (await engine.version(record.type, record.id, record.vid + 1))?.ts;
}

/**
 * Whether `resource` is what `current` stores, but for the server's
 * meta.versionId and meta.lastUpdated: written as the current version would
 * be, the JSON text is the same. A Binary (its bytes live apart) or a deleted
 * resource is never unchanged. Members in another order count as a change: a
 * new version is harmless, a missed change is not.
 */
function isUnchanged(resource: Resource, current: VersionRecord): boolean {
  if (current.deleted || current.type === 'Binary') return false;
  const { resourceType, id, meta, ...rest } = resource as Resource & Record<string, unknown>;
  const json = JSON.stringify({ resourceType, id, meta: { ...meta, versionId: String(current.vid), lastUpdated: current.lastUpdated }, ...rest });
  return json === current.json;
}

export function checkTypeAndId(type: string, id: unknown): asserts id is string {
  if (!isResourceType(type)) throw unknownType(type);
  if (!isValidId(id)) throw new BadRequestError('FHIR_ERR_REST_INVALID_ID', `${JSON.stringify(id ?? null).slice(0, 80)} is not a valid FHIR id (1-64 of A-Z a-z 0-9 - .)`);
  // R4's id pattern allows them, but URL clients resolve dot-segments (RFC 3986 §5.2.4):
  // `Patient/..` would be fetched as the base, and its Location could never be followed.
  if (id === '.' || id === '..') throw new BadRequestError('FHIR_ERR_REST_INVALID_ID', `"${id}" cannot be a resource id here: URLs treat it as a dot-segment, so no client could address the resource`);
}

export function unknownType(type: string): FhirError {
  return new FhirError('FHIR_ERR_REST_UNKNOWN_TYPE', 404, 'not-supported', `Unknown resource type "${type.slice(0, 80)}"`);
}

/**
 * `If-Match` (http.html#concurrency, RFC 9110 §13.1.1): a list of versions,
 * one of which must be the current one, or `*`, which any current version
 * meets. A resource deleted, or never written, has no current version.
 */
function checkIfMatch(ifMatch: string | undefined, current: VersionRecord | undefined, type: string, id: string): void {
  if (ifMatch === undefined) return;
  const tags = requireEntityTags(ifMatch, 'If-Match');
  const shown = ifMatch.trim().slice(0, 80);
  if (!current) throw new VersionConflictError(`If-Match ${shown}: there is no ${type}/${id}`, 412);
  if (current.deleted) throw new VersionConflictError(`If-Match ${shown}: ${type}/${id} is deleted (its deletion is version ${current.vid})`, 412);
  if (!namesVersion(tags, current.vid)) throw new VersionConflictError(`If-Match ${shown} does not match the current version (W/"${current.vid}")`, 412);
}

/**
 * The search of a condition (conditional create, update, delete, a Bundle's
 * conditional reference), asking for at most `limit` matches: 412 when it
 * has no criterion, only result parameters (`_sort`, `_count`, `_summary`,
 * `_include`...) that would match every resource of the type. A `_count`
 * given is replaced by the limit, as the condition asks only how many match.
 */
export function conditionQuery(query: Array<[string, string]>, limit: number): Array<[string, string]> {
  if (!query.some(([k]) => !k.startsWith('_') || CRITERIA_PARAMETERS.has(k))) {
    throw new PreconditionFailedError('FHIR_ERR_STORE_NO_CRITERIA', 'A conditional interaction needs at least one search criterion');
  }
  return [...query.filter(([k]) => k !== '_count'), ['_count', String(limit)]];
}

/** The parameters starting with `_` that select resources (search.html#all), rather than shape the result. */
const CRITERIA_PARAMETERS: ReadonlySet<string> = new Set(['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source', '_has', '_text', '_content', '_list']);

/**
 * A resource as a version stores it: resourceType, id and meta first, as people
 * expect to read them; the client's meta (meta.source...) is kept, the
 * server-maintained versionId and lastUpdated always win.
 */
export function storedForm(resource: Resource, type: string, id: string, vid: number, lastUpdated: string): Resource {
  const { resourceType: _type, id: _id, meta, ...rest } = resource as Resource & Record<string, unknown>;
  return { resourceType: type, id, meta: { ...meta, versionId: String(vid), lastUpdated }, ...rest } as Resource;
}

/** `a=1&b=2` (an If-None-Exist header, or a URL query) to ordered pairs. */
export function queryPairs(query: string): Array<[string, string]> {
  const q = query.startsWith('?') ? query.slice(1) : query.includes('?') ? query.slice(query.indexOf('?') + 1) : query;
  return [...new URLSearchParams(q)];
}

export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!key || !/^\d{4}-\d\d-\d\dT[\d:.]+Z\|/.test(key)) throw new BadRequestError('FHIR_ERR_REST_BAD_CURSOR', 'The paging cursor is not valid');
  return key;
}
