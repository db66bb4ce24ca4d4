import { checkJsonBody } from '../fhir/json-body.js';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Binary, Bundle, BundleEntry, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { BadRequestError, FhirError, PayloadTooLargeError, PreconditionFailedError, UnprocessableError, VersionConflictError } from '../errors.js';
import type { Interaction } from '../auth/scopes.js';
import { parseRelativeReference } from '../fhir/references.js';
import { isResourceType, isValidId } from '../fhir/resource-types.js';
import { applyJsonPatch } from '../fhir/json-patch.js';
import type { VersionRecord } from './engine.js';
import { mayHaveLanded } from './engine.js';
import type { PreparedWrite, Repository, SearchRestriction, WriteCheck } from './repository.js';
import { conditionQuery, queryPairs } from './repository.js';
import { HeldTurns, TurnsOutOfOrder, turnOrder, writeInTurn } from './resource-turns.js';
import type { CreatingCondition } from './condition-check.js';
import { queryEncodingError } from '../plugins/query-encoding.js';
import { isBase64Binary } from '../fhir/validation/base64.js';
import type { TypeIndex } from '../fhir/validation/element-index.js';
import { isPrimitiveType, typeIndex } from '../fhir/validation/element-index.js';

/** What the caller (the HTTP route) supplies: the access policy and what GET entries do. */
export interface BundleContext {
  fhirBase: string;
  maxEntries: number;
  binaryMaxBytes: number;
  /** Throws 403 when refused (precheck: before the target is loaded). */
  authorize(action: Interaction, interaction: string, target: { resourceType: string; id?: string; compartments?: string[]; record?: VersionRecord }, precheck: boolean): Promise<unknown>;
  writeCheck(action: 'c' | 'u' | 'd', interaction: string): WriteCheck;
  /**
   * The caller's access policy as a search restriction: conditional entries
   * and conditional references match only what the caller may see.
   */
  restriction?(): Promise<SearchRestriction>;
  /**
   * Runs a GET or HEAD entry (read, vread, search, history) with the entry's
   * conditional headers, and returns its response entry (no resource for HEAD
   * or a 304).
   */
  read(url: string, request?: EntryRead): Promise<BundleEntry>;
  /** `Prefer: return=` for the entries of the answer. */
  returnPreference?: 'minimal' | 'representation' | 'OperationOutcome';
  /**
   * Domain rules on a write (space/documents): sees the new resource and the
   * current version, returns the resource to store or throws.
   */
  writeRules?(type: string, write: { method: 'POST' | 'PUT' | 'PATCH' | 'DELETE'; next?: Resource; current?: VersionRecord }): Resource | undefined;
  /**
   * What a caller may not read stays hidden on writes as on reads
   * (access/hidden-references.ts), as for the direct requests:
   * `refuseChange` throws when a PUT, PATCH or DELETE would change a version naming
   * items hidden from the caller (called before anything applies);
   * `disclose` gives a version as a read of it would, for the answer's entries.
   */
  refuseChange?(current: VersionRecord, interaction: 'update' | 'patch' | 'delete'): Promise<void>;
  disclose?(record: VersionRecord): Promise<VersionRecord>;
  /**
   * Rules that judge a version among all those committed with it, and must
   * not be overtaken by other requests' writes to the resources it depends on
   * (space/documents/document-content.ts: a document and the Binary that is
   * its content). `turns` names the resources (`Type/id`) in whose turns the
   * commit runs; `check` runs on each version there, once the policy has
   * allowed every one (writeCheck), just before the commit.
   */
  commitRules?: {
    turns(writes: CommitWrite[]): Promise<string[]>;
    check(write: CommitWrite, together: CommitWrite[]): Promise<void>;
  };
}

/** A version about to be committed; `bytes`: a Binary's new content that the commit stores (PreparedWrite.bytes). */
export interface CommitWrite {
  record: VersionRecord;
  bytes?: Buffer;
}

/** A GET or HEAD entry's method and the request elements that stand for its conditional headers. */
export interface EntryRead {
  method: 'GET' | 'HEAD';
  ifNoneMatch?: string;
  ifModifiedSince?: string;
}

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
/** FHIR's processing order for a transaction (http.html#trules). */
const ORDER: Record<Method, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

interface Parsed {
  index: number;
  method: Method;
  url: string;
  path: string[];
  query: Array<[string, string]>;
  entry: BundleEntry;
  resource?: Resource;
  /** `Type/id` this entry creates or updates, once known. */
  target?: { type: string; id: string };
  /** What its If-None-Exist matched: the entry writes nothing and answers with it. */
  existing?: VersionRecord;
  /**
   * Its If-None-Exist (POST) or conditional URL (PUT), as `Type?sorted pairs`: the
   * condition under which it creates its target, or stands for the one it matched.
   */
  creatingCondition?: string;
  /** That condition's pairs, placeholders resolved: what the entry's resource must satisfy when it creates. */
  condition?: Array<[string, string]>;
  /** Whether that condition matched nothing, so that the entry creates. */
  matchedNothing?: boolean;
}

interface Done {
  prepared?: PreparedWrite;
  response: BundleEntry['response'];
  record?: VersionRecord;
  resourceJson?: string;
}

/**
 * Processes a batch or transaction Bundle (https://hl7.org/fhir/R4/http.html#transaction).
 * A transaction prepares every write (validation, policy, version checks) and
 * commits them in one atomic engine commit: on any failure nothing is stored,
 * and the OperationOutcome names the failing entry. Blobs written for Binary
 * entries of a failed transaction are removed again.
 */
export async function processBundle(repository: Repository, body: unknown, context: BundleContext): Promise<Bundle> {
  const bundle = checkBundle(body, context.maxEntries);
  return bundle.type === 'transaction' ? processTransaction(repository, bundle, context) : processBatch(repository, bundle, context);
}

/** An entry that writes according to a search: If-None-Exist, or a conditional update, patch or delete. */
function isConditional(entry: BundleEntry): boolean {
  const request = entry.request;
  const method = request?.method;
  return Boolean(request?.ifNoneExist) || ((method === 'PUT' || method === 'PATCH' || method === 'DELETE') && typeof request?.url === 'string' && request.url.includes('?'));
}

async function processTransaction(repository: Repository, bundle: Bundle, context: BundleContext): Promise<Bundle> {
  const parsed = (bundle.entry ?? []).map((entry, index) => parseEntry(entry, index, context.fhirBase));
  const blobs: string[] = [];
  let committed = false;
  // Each attempt works on fresh copies of the parsed entries (their targets, ids and rewritten resources are its own).
  let entries: Parsed[] = [];
  let done = new Map<number, Done>();
  // fullUrl (and Type/oldId) -> Type/id: what every reference and condition naming an entry stands for.
  let idMap = new Map<string, string>();
  const prepareAndCommit = async (held: HeldTurns, alsoFirst: ReadonlySet<string>): Promise<void> => {
    entries = parsed.map((p) => ({ ...p }));
    done = new Map();
    idMap = new Map();
    // Ids first, so every reference in the Bundle can be rewritten before any resource is prepared.
    await assignTargets(repository, entries, idMap, context);
    refuseRepeatedWrites(entries);
    refuseRepeatedCreatingConditions(entries);
    // The turns of what it writes by id, as direct writes to them take (see takeTurns), before anything is read to prepare.
    await held.take([...new Set([...writtenById(entries), ...alsoFirst])].sort(turnOrder));
    await confirmMatches(repository, entries, idMap, context);
    const underConditions = targetsByCondition(entries);
    for (const e of entries) if (e.resource) e.resource = await rewriteReferences(e.resource, idMap, repository, e, context, underConditions) as Resource;
    const targets = (deletes: boolean) => new Set(entries.flatMap((e) => (e.target && (e.method === 'DELETE') === deletes ? [`${e.target.type}/${e.target.id}`] : [])));
    const [written, deleted] = [targets(false), targets(true)];
    for (const e of entries) if (e.resource && e.method !== 'DELETE') await checkReferencesResolve(repository, e, written, deleted);
    const writes = [...entries].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index).filter((e) => e.method !== 'GET' && e.method !== 'HEAD');
    // Prepared together, so that their validation and indexing travel to a write worker as one
    // batch; every preparation settles (its blobs are known for the clean-up) and the first
    // failing entry, in processing order, is the one reported.
    const results = await Promise.allSettled(writes.map((e) => prepareWrite(repository, e, context, blobs, false)));
    results.forEach((result, i) => {
      if (result.status === 'rejected') throw entryError(writes[i]!, result.reason);
      done.set(writes[i]!.index, result.value);
    });
    const prepared = [...done.values()].flatMap((d) => (d.prepared ? [d.prepared] : []));
    // The policy's last word on each new version, then the commit rules and one atomic commit.
    const versions: EntryWrite[] = [];
    for (const e of entries) {
      const d = done.get(e.index);
      const op = d?.prepared?.op;
      if (op) {
        try {
          await context.writeCheck(e.method === 'POST' ? 'c' : e.method === 'DELETE' ? 'd' : 'u', interactionOf(e))(op.record);
        } catch (err) {
          throw entryError(e, err);
        }
        versions.push({ e, write: { record: op.record, ...(d.prepared!.bytes ? { bytes: d.prepared!.bytes } : {}) } });
      } else if (d?.prepared?.unchanged) {
        // A PUT or PATCH that changes nothing writes no version (as over REST), and is still judged as an update.
        try {
          await context.writeCheck('u', interactionOf(e))(d.prepared.unchanged);
        } catch (err) {
          throw entryError(e, err);
        }
      }
    }
    await commitUnderRules(repository, context, versions, prepared, held);
    committed = true;
  };
  try {
    // Conditional entries decide on what their searches found: in the queue of the server's
    // conditional interactions, or two such transactions could both create. The GET entries,
    // read after the commit, need not hold it. The queue is taken before any turn (turnOrder).
    const inTurns = () => takeTurns(repository, blobs, prepareAndCommit);
    if ((bundle.entry ?? []).some(isConditional)) await repository.serialised(inTurns);
    else await inTurns();
    // Committed: from here on nothing may throw away the Binaries' bytes (context.read never throws).
    const out: BundleEntry[] = [];
    for (const e of entries) {
      if (e.method === 'GET' || e.method === 'HEAD') out.push(await context.read(withPlaceholdersResolved(e, idMap), entryRead(e)));
      else out.push(await responseEntry(done.get(e.index)!, context));
    }
    return { resourceType: 'Bundle', id: randomUUID(), type: 'transaction-response', entry: out };
  } catch (err) {
    if (!committed && !mayHaveLanded(err)) await dropBlobs(repository, blobs);
    throw err;
  }
}

/** Attempts of a transaction whose turns, matches or versions moved under it (see takeTurns). */
const TRANSACTION_ATTEMPTS = 5;

/**
 * Runs a transaction's preparation and commit (`attempt`) in the turns of
 * every resource it writes by id (its PUT, PATCH and DELETE entries, by id or
 * once their condition matched), as the direct writes to each take them
 * (resource-turns.ts): a transaction without If-Match then behaves as the
 * same PUTs sent one after the other would, and succeeds however many direct
 * writes keep changing those resources; with If-Match, a stale version is a
 * 412. The turns are taken in turnOrder (after the conditional queue, when the
 * transaction holds it), held from before the first read of a current version
 * to the end of the commit, and given back on every way out. The attempt
 * starts again, its bytes dropped, when:
 * - the commit rules need turns that come before some it holds
 *   (TurnsOutOfOrder): they are then taken with the others, first;
 * - what a conditional entry matched changed before its turn was taken
 *   (confirmMatches), as a conditional update over REST looks again;
 * - the store still found that another write came first (another server
 *   sharing it): redone on the new versions, where a stale If-Match is a 412.
 * After TRANSACTION_ATTEMPTS, the last conflict is the answer (409), as a
 * direct write's (writeInTurn).
 */
async function takeTurns(repository: Repository, blobs: string[], attempt: (held: HeldTurns, alsoFirst: ReadonlySet<string>) => Promise<void>): Promise<void> {
  const alsoFirst = new Set<string>();
  for (let n = 1; ; n++) {
    const held = new HeldTurns(repository.turns);
    const mark = blobs.length;
    try {
      return await attempt(held, alsoFirst);
    } catch (err) {
      const again = err instanceof TurnsOutOfOrder || err instanceof MatchMoved || err instanceof CommitConflict;
      if (!again) throw err;
      if (n >= TRANSACTION_ATTEMPTS) {
        throw err instanceof CommitConflict ? err.conflict
          : new VersionConflictError('What the transaction\'s conditions match, or the resources it writes, kept changing under concurrent writes');
      }
      if (err instanceof TurnsOutOfOrder) for (const key of err.keys) alsoFirst.add(key);
      await dropBlobs(repository, blobs.splice(mark));
    } finally {
      held.release();
    }
  }
}

/** A conditional entry's match changed before the transaction held its turn (confirmMatches). */
class MatchMoved extends Error {}

/** The store refused the commit: a version it replaces is no longer current (another server wrote it). */
class CommitConflict extends Error {
  constructor(readonly conflict: VersionConflictError) {
    super(conflict.message);
  }
}

/** The `Type/id` of every resource a transaction's entries write by id: PUT, PATCH, DELETE, by id or as matched. */
function writtenById(entries: Parsed[]): string[] {
  return entries.flatMap((e) => (e.target && (e.method === 'PUT' || e.method === 'PATCH' || e.method === 'DELETE') ? [`${e.target.type}/${e.target.id}`] : []));
}

/**
 * A conditional PUT, PATCH or DELETE that matched one resource searched before
 * the transaction held that resource's turn: a direct write landing between
 * may have changed what matches. Searched again in the turn (as a conditional
 * update over REST does, Repository.inTurnOfMatch); a different answer starts
 * the attempt again (MatchMoved).
 */
async function confirmMatches(repository: Repository, entries: Parsed[], idMap: Map<string, string>, context: BundleContext): Promise<void> {
  for (const e of entries) {
    if (e.path.length !== 1 || !e.target || e.matchedNothing || !(e.method === 'PUT' || e.method === 'PATCH' || e.method === 'DELETE')) continue;
    const match = await conditionalMatch(repository, e.target.type, resolvePlaceholders(e.query, idMap), e, context);
    if (match?.id !== e.target.id) throw new MatchMoved();
  }
}

async function processBatch(repository: Repository, bundle: Bundle, context: BundleContext): Promise<Bundle> {
  const out: BundleEntry[] = [];
  for (const [index, entry] of (bundle.entry ?? []).entries()) {
    const blobs: string[] = [];
    try {
      const e = parseEntry(entry, index, context.fhirBase);
      if (e.method === 'GET' || e.method === 'HEAD') {
        out.push(await context.read(e.url, entryRead(e)));
        continue;
      }
      // Each entry is its own interaction: a conditional one queues like a conditional REST request,
      // one naming its resource takes its turn with the other writes to it (as direct requests do).
      const [type, id] = e.path;
      const byId = e.path.length === 2 && (e.method === 'PUT' || e.method === 'PATCH' || e.method === 'DELETE');
      const inTurn = byId && !isConditional(entry);
      const write = async (): Promise<Done> => {
        await assignTarget(repository, e, new Map(), context);
        if (e.resource) {
          // A conditional reference (Patient?identifier=...) names one resource, as in a transaction, or the entry fails.
          e.resource = await rewriteReferences(e.resource, new Map(), repository, e, context) as Resource;
          await checkReferencesResolve(repository, e, new Set(e.target ? [`${e.target.type}/${e.target.id}`] : []));
        }
        // In this thread: a batch commits entry by entry, and a worker round trip each would cost more than it saves.
        const d = await prepareWrite(repository, e, context, blobs, true);
        const op = d.prepared?.op;
        if (op) {
          await context.writeCheck(e.method === 'POST' ? 'c' : e.method === 'DELETE' ? 'd' : 'u', interactionOf(e))(op.record);
          const version = { record: op.record, ...(d.prepared!.bytes ? { bytes: d.prepared!.bytes } : {}) };
          await commitUnderRules(repository, context, [{ e, write: version }], [d.prepared!], inTurn ? `${type}/${id}` : undefined);
        } else if (d.prepared?.unchanged) {
          await context.writeCheck('u', interactionOf(e))(d.prepared.unchanged);
        }
        return d;
      };
      const attempt = async (): Promise<Done> => {
        const mark = blobs.length;
        try {
          return await write();
        } catch (err) {
          // Redone on a conflict: this attempt's bytes go, the next stores its own.
          if (err instanceof VersionConflictError) await dropBlobs(repository, blobs.splice(mark));
          throw err;
        }
      };
      const done = isConditional(entry) ? await repository.serialised(write)
        : inTurn ? await writeInTurn(repository.turns, type!, id!, entry.request?.ifMatch, attempt) : await write();
      out.push(await responseEntry(done, context));
    } catch (err) {
      if (!mayHaveLanded(err)) await dropBlobs(repository, blobs);
      if (!(err instanceof FhirError)) throw err;
      // The store is down: every later entry would wait as long for the same answer.
      if (err.code === 'FHIR_ERR_STORE_UNAVAILABLE') throw err;
      out.push({ response: { status: `${err.statusCode}`, outcome: err.toOperationOutcome() } });
    }
  }
  return { resourceType: 'Bundle', id: randomUUID(), type: 'batch-response', entry: out };
}

interface EntryWrite {
  e: Parsed;
  write: CommitWrite;
}

/**
 * Commits `prepared` under the context's commit rules: in the turns they
 * name (in turnOrder, so that two commits never wait for each other in a
 * circle), each version checked first, a refusal naming its entry. `held`:
 * the turn a batch entry already holds, or a transaction's turns, which the
 * rules' turns extend (TurnsOutOfOrder when they cannot, see takeTurns); a
 * transaction's commit refused for a version that moved is a CommitConflict.
 */
async function commitUnderRules(repository: Repository, context: BundleContext, writes: EntryWrite[], prepared: PreparedWrite[], held?: string | HeldTurns): Promise<void> {
  const rules = context.commitRules;
  const commit = held instanceof HeldTurns ? () => commitInTransaction(repository, prepared) : () => repository.commit(prepared);
  if (!rules || !writes.length) return commit();
  const together = writes.map((w) => w.write);
  const wanted = [...new Set(await rules.turns(together))];
  const run = async (): Promise<void> => {
    for (const { e, write } of writes) {
      try {
        await rules.check(write, together);
      } catch (err) {
        throw entryError(e, err);
      }
    }
    await commit();
  };
  if (held instanceof HeldTurns) {
    await held.extend(wanted);
    return run();
  }
  const keys = wanted.filter((key) => key !== held).sort(turnOrder);
  return keys.reduceRight<() => Promise<void>>((inner, key) => () => repository.turns.run(key, inner), run)();
}

async function commitInTransaction(repository: Repository, prepared: PreparedWrite[]): Promise<void> {
  try {
    await repository.commit(prepared);
  } catch (err) {
    if (err instanceof VersionConflictError && err.statusCode === 409) throw new CommitConflict(err);
    throw err;
  }
}

async function dropBlobs(repository: Repository, keys: string[]): Promise<void> {
  await Promise.all(keys.map((key) => repository.engine.blobs.delete(key).catch(() => undefined)));
}

function checkBundle(body: unknown, maxEntries: number): Bundle {
  if (!body || typeof body !== 'object' || Array.isArray(body) || (body as Resource).resourceType !== 'Bundle') {
    throw new BadRequestError('FHIR_ERR_BUNDLE_NOT_BUNDLE', 'POST to the base URL needs a Bundle of type batch or transaction');
  }
  const bundle = body as Bundle;
  if (bundle.type !== 'transaction' && bundle.type !== 'batch') {
    throw new BadRequestError('FHIR_ERR_BUNDLE_TYPE', `Bundle.type must be batch or transaction, not ${String(bundle.type)}`, { expression: ['Bundle.type'] });
  }
  if (bundle.entry !== undefined && !Array.isArray(bundle.entry)) throw new BadRequestError('FHIR_ERR_BUNDLE_ENTRY', 'Bundle.entry must be an array', { expression: ['Bundle.entry'] });
  if ((bundle.entry?.length ?? 0) > maxEntries) {
    throw new PayloadTooLargeError(`A Bundle may hold at most ${maxEntries} entries; this one has ${bundle.entry!.length}`);
  }
  checkFullUrlsUnique(bundle.entry ?? []);
  return bundle;
}

/**
 * bdl-7: a fullUrl appears once, unless its entries carry different
 * meta.versionId. Otherwise a reference to it would name whichever entry
 * came last.
 */
function checkFullUrlsUnique(entries: BundleEntry[]): void {
  const seen = new Set<string>();
  entries.forEach((entry, index) => {
    const fullUrl: unknown = entry?.fullUrl;
    if (typeof fullUrl !== 'string') return;
    const versionId: unknown = entry.resource?.meta?.versionId;
    const key = `${typeof versionId === 'string' ? versionId : ''}|${fullUrl}`;
    if (seen.has(key)) {
      throw new BadRequestError('FHIR_ERR_BUNDLE_FULLURL_DUPLICATE', `Bundle.entry[${index}].fullUrl ${fullUrl.slice(0, 120)} is already the fullUrl of an earlier entry (bdl-7)`, { expression: [`Bundle.entry[${index}].fullUrl`] });
    }
    seen.add(key);
  });
}

/** The request elements that stand for HTTP headers: strings when present. */
const CONDITIONAL_HEADERS = ['ifMatch', 'ifNoneExist', 'ifNoneMatch', 'ifModifiedSince'] as const;

function parseEntry(entry: BundleEntry, index: number, fhirBase: string): Parsed {
  const where = `Bundle.entry[${index}]`;
  if (!entry || typeof entry !== 'object') throw new BadRequestError('FHIR_ERR_BUNDLE_ENTRY', `${where} is not an object`, { expression: [where] });
  const method = entry.request?.method;
  const url = entry.request?.url;
  // Own keys only: 'toString' or 'constructor' are in every object.
  if (typeof method !== 'string' || !Object.hasOwn(ORDER, method) || typeof url !== 'string' || url === '') {
    throw new BadRequestError('FHIR_ERR_BUNDLE_REQUEST', `${where}.request needs a method (GET, POST, PUT, PATCH, DELETE) and a url`, { expression: [`${where}.request`] });
  }
  if (entry.fullUrl !== undefined && typeof entry.fullUrl !== 'string') {
    throw new BadRequestError('FHIR_ERR_BUNDLE_ENTRY', `${where}.fullUrl must be a string`, { expression: [`${where}.fullUrl`] });
  }
  for (const header of CONDITIONAL_HEADERS) {
    const value: unknown = entry.request![header];
    if (value !== undefined && typeof value !== 'string') {
      throw new BadRequestError('FHIR_ERR_BUNDLE_REQUEST', `${where}.request.${header} must be a string`, { expression: [`${where}.request.${header}`] });
    }
  }
  // As for a request's own URL: broken percent-encoding would search for something the client never wrote.
  if (queryEncodingError(url)) throw badEncoding(`${where}.request.url`);
  if (entry.request?.ifNoneExist !== undefined && queryEncodingError(`?${entry.request.ifNoneExist}`)) throw badEncoding(`${where}.request.ifNoneExist`);
  const relative = url.startsWith(fhirBase + '/') ? url.slice(fhirBase.length + 1) : url.replace(/^\//, '');
  const [pathPart, queryPart] = relative.split('?', 2);
  // Within this server's FHIR base only: no other server, no way out of /fhir.
  if (/^[a-z][a-z0-9+.-]*:/i.test(relative) || pathPart.split('/').some((segment) => segment === '..' || segment === '.' || /%2e%2e|%2f/i.test(segment))) {
    throw new BadRequestError('FHIR_ERR_BUNDLE_REQUEST', `${where}.request.url must be relative to this server's FHIR base`, { expression: [`${where}.request.url`] });
  }
  const parsed: Parsed = { index, method: method as Method, url: relative, path: pathPart.split('/').filter(Boolean), query: queryPart ? queryPairs(queryPart) : [], entry };
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    const resource = entry.resource;
    if (!resource || typeof resource !== 'object' || typeof resource.resourceType !== 'string') {
      throw new BadRequestError('FHIR_ERR_BUNDLE_RESOURCE', `${where} needs a resource for ${method}`, { expression: [`${where}.resource`] });
    }
    // Not copied: the Bundle is this request's own parsed body, which nothing reads again, and
    // a transaction's reference rewriting builds its own copy.
    parsed.resource = resource;
  }
  const type = parsed.path[0];
  if (type && method !== 'GET' && method !== 'HEAD' && !isResourceType(type)) {
    throw new BadRequestError('FHIR_ERR_BUNDLE_REQUEST', `${where}.request.url names an unknown resource type ${type.slice(0, 60)}`, { expression: [`${where}.request.url`] });
  }
  // A Subscription's owner is recorded as it is written, and its criteria and channel checked, by its own
  // routes only (routes/subscriptions.ts): refused here rather than written without them. Deleting is generic.
  if ((type === 'Subscription' || parsed.resource?.resourceType === 'Subscription') && method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') {
    throw new FhirError('FHIR_ERR_SUBSCRIPTION_BUNDLE', 422, 'not-supported',
      `${where}: a Subscription is created or changed with POST, PUT or PATCH on [base]/Subscription, not in a Bundle`, { expression: [`${where}.request`] });
  }
  return parsed;
}

/** Decides which Type/id each write entry targets and records fullUrl -> Type/id. */
async function assignTarget(repository: Repository, e: Parsed, idMap: Map<string, string>, context: BundleContext): Promise<void> {
  const [type, id] = e.path;
  const fullUrl = e.entry.fullUrl;
  const map = (target: { type: string; id: string }) => {
    e.target = target;
    if (fullUrl) idMap.set(fullUrl, `${target.type}/${target.id}`);
    // Resource ids may also be referenced by their Type/oldId within the Bundle.
    const own = e.resource?.id;
    if (typeof own === 'string' && own && e.method === 'POST') idMap.set(`${target.type}/${own}`, `${target.type}/${target.id}`);
  };
  if (e.method === 'POST') {
    if (e.path.length !== 1) throw entryError(e, new BadRequestError('FHIR_ERR_BUNDLE_REQUEST', 'POST entries need url = the resource type'));
    if (e.resource!.resourceType !== type) throw entryError(e, new BadRequestError('FHIR_ERR_REST_TYPE_MISMATCH', `resourceType ${e.resource!.resourceType} does not match url ${type}`));
    const ifNoneExist = e.entry.request?.ifNoneExist;
    if (ifNoneExist) {
      await context.authorize('s', 'search-type', { resourceType: type }, true);
      const condition = resolvePlaceholders(queryPairs(ifNoneExist), idMap);
      const existing = await conditionalMatch(repository, type, condition, e, context);
      noteCreatingCondition(e, type, condition, !existing);
      if (existing) {
        map({ type, id: existing.id });
        e.existing = existing;
        return;
      }
    }
    map({ type, id: randomUUID() });
    return;
  }
  if (e.method === 'PUT' || e.method === 'PATCH' || e.method === 'DELETE') {
    if (e.path.length === 2) {
      if (!isValidId(id)) throw entryError(e, new BadRequestError('FHIR_ERR_REST_INVALID_ID', `"${String(id).slice(0, 64)}" is not a valid FHIR id`));
      map({ type, id });
      return;
    }
    if (e.path.length === 1 && e.query.length) {
      await context.authorize('s', 'search-type', { resourceType: type }, true);
      const condition = resolvePlaceholders(e.query, idMap);
      const existing = await conditionalMatch(repository, type, condition, e, context);
      if (existing) map({ type, id: existing.id });
      else if (e.method === 'PUT') map({ type, id: e.resource?.id && isValidId(e.resource.id) ? e.resource.id : randomUUID() });
      if (e.method === 'PUT') noteCreatingCondition(e, type, condition, !existing);
      return;
    }
    throw entryError(e, new BadRequestError('FHIR_ERR_BUNDLE_REQUEST', `${e.method} entries need url = Type/id or Type?criteria`));
  }
}

async function conditionalMatch(repository: Repository, type: string, query: Array<[string, string]>, e: Parsed, context: BundleContext): Promise<VersionRecord | undefined> {
  const { matches } = await entrySearch(repository, type, query, e, context);
  if (matches.length > 1) throw entryError(e, new PreconditionFailedError('FHIR_ERR_STORE_MULTIPLE_MATCHES', `The condition matched more than one ${type}`));
  return matches[0];
}

/** The search behind an entry's condition or conditional reference: at most two matches, errors naming the entry. */
async function entrySearch(repository: Repository, type: string, query: Array<[string, string]>, e: Parsed, context: BundleContext) {
  try {
    const parsed = repository.parseSearch([type], conditionQuery(query, 2), true);
    const restriction = await context.restriction?.();
    await restriction?.reviseQuery?.(parsed);
    return await repository.search(parsed, restriction);
  } catch (err) {
    throw entryError(e, err);
  }
}

/**
 * Assigns every entry its target. An entry whose condition names another
 * entry by its fullUrl (`subject=urn:uuid:...`) waits for that entry's id, so
 * a Bundle may list them in any order; conditions naming each other in a
 * circle are a 400.
 */
async function assignTargets(repository: Repository, entries: Parsed[], idMap: Map<string, string>, context: BundleContext): Promise<void> {
  const fullUrls = new Set(entries.flatMap((e) => (e.entry.fullUrl ? [e.entry.fullUrl] : [])));
  let pending = entries;
  while (pending.length) {
    const waiting = pending.filter((e) => conditionOf(e).some(([, value]) => value.split(',').some((v) => fullUrls.has(v) && !idMap.has(v))));
    if (waiting.length === pending.length) {
      throw entryError(waiting[0]!, new BadRequestError('FHIR_ERR_BUNDLE_REQUEST', 'Its condition names entries whose own conditions name it back: no order can resolve them'));
    }
    for (const e of pending) if (!waiting.includes(e)) await assignTarget(repository, e, idMap, context);
    pending = waiting;
  }
}

function noteCreatingCondition(e: Parsed, type: string, condition: Array<[string, string]>, matchedNothing: boolean): void {
  e.creatingCondition = conditionKey(type, condition);
  e.condition = condition;
  e.matchedNothing = matchedNothing;
}

/**
 * What an entry that creates under its condition must satisfy (store/condition-check.ts):
 * a POST whose ifNoneExist, or a PUT whose conditional URL, matched nothing. Then a
 * conditional reference with the same condition (targetsByCondition) names a
 * resource that matches it.
 */
function creatingUnder(e: Parsed): CreatingCondition | undefined {
  if (!e.matchedNothing || !e.condition) return undefined;
  return { source: e.method === 'POST' ? 'If-None-Exist' : 'conditional update', query: e.condition };
}

/** A condition as `Type?pairs`, the pairs sorted: the same search in any parameter order is the same key. */
function conditionKey(type: string, condition: Array<[string, string]>): string {
  return `${type}?${new URLSearchParams([...condition].sort(([a, x], [b, y]) => a.localeCompare(b) || x.localeCompare(y)))}`;
}

/**
 * A resource that two entries of one transaction write would end as whichever
 * was processed last: the transaction is refused (400 naming the second), as
 * FHIR asks (http.html#trules). Conditional creates that matched an existing
 * resource write nothing: any number of them may name it, each answered 200
 * with it (as HAPI FHIR does), as long as no entry of the transaction writes it
 * (their answer would show a version that the same transaction replaces).
 */
function refuseRepeatedWrites(entries: Parsed[]): void {
  const first = new Map<string, { e: Parsed; written: boolean }>();
  for (const e of entries) {
    if (!e.target) continue;
    const key = `${e.target.type}/${e.target.id}`;
    const writes = !e.existing;
    const earlier = first.get(key);
    if (earlier && (earlier.written || writes)) {
      throw entryError(e, new BadRequestError('FHIR_ERR_BUNDLE_DUPLICATE', `${key} appears more than once in the transaction (also Bundle.entry[${earlier.e.index}]), and an entry writes it`));
    }
    first.set(key, { e: earlier?.e ?? e, written: writes });
  }
}

/**
 * Two entries of one transaction with the same condition, both matching
 * nothing, would each create a resource: the same Patient twice, after which
 * every `If-None-Exist` on it is a 412. Conditions are looked up before the
 * commit, so neither sees the other's resource; the transaction is refused
 * (400 naming the second entry) rather than duplicating what the client
 * meant to create once.
 */
function refuseRepeatedCreatingConditions(entries: Parsed[]): void {
  const first = new Map<string, Parsed>();
  for (const e of entries) {
    const key = e.creatingCondition;
    if (key === undefined || !e.matchedNothing) continue;
    const earlier = first.get(key);
    if (earlier) {
      throw entryError(e, new BadRequestError('FHIR_ERR_BUNDLE_DUPLICATE', `Its condition ${key.slice(0, 120)} is also Bundle.entry[${earlier.index}]'s: both match nothing, and would create two resources in one transaction`));
    }
    first.set(key, e);
  }
}

/**
 * `Type?sorted pairs` -> the `Type/id` that the entries with that creating
 * condition stand for: what they create, or the resource they matched. A
 * conditional reference with the same condition names it, stored or not.
 */
function targetsByCondition(entries: Parsed[]): Map<string, string[]> {
  const targets = new Map<string, string[]>();
  for (const e of entries) {
    if (e.creatingCondition === undefined || !e.target) continue;
    const list = targets.get(e.creatingCondition) ?? [];
    list.push(`${e.target.type}/${e.target.id}`);
    targets.set(e.creatingCondition, list);
  }
  return targets;
}

/** The search parameters an entry's target depends on (If-None-Exist, or a conditional URL). */
function conditionOf(e: Parsed): Array<[string, string]> {
  const ifNoneExist = e.entry.request?.ifNoneExist;
  if (e.method === 'POST') return ifNoneExist ? queryPairs(ifNoneExist) : [];
  return e.method === 'PUT' || e.method === 'PATCH' || e.method === 'DELETE' ? e.query : [];
}

/**
 * http.html#trules: a Bundle's URIs that name an entry's fullUrl stand for
 * the id it got, in request URLs and conditions too (`subject=urn:uuid:...`),
 * one value of a comma-separated list at a time.
 */
function resolvePlaceholders(pairs: Array<[string, string]>, idMap: Map<string, string>): Array<[string, string]> {
  if (!idMap.size) return pairs;
  return pairs.map(([name, value]) => [name, value.split(',').map((v) => idMap.get(v) ?? v).join(',')]);
}

/** A GET entry's URL with its placeholders resolved (unchanged when it has none). */
function withPlaceholdersResolved(e: Parsed, idMap: Map<string, string>): string {
  if (!e.query.length || !idMap.size) return e.url;
  const resolved = resolvePlaceholders(e.query, idMap);
  if (resolved.every(([, v], i) => v === e.query[i]![1])) return e.url;
  return `${e.url.split('?', 1)[0]}?${new URLSearchParams(resolved)}`;
}

function badEncoding(expression: string): BadRequestError {
  return new BadRequestError('FHIR_ERR_HTTP_BAD_REQUEST', `${expression} is not valid (broken percent-encoding)`, { expression: [expression] });
}

/**
 * Rewrites every `reference` (and link `url`, and narrative link) that names another entry's
 * fullUrl or Type/id to the id it got; conditional references (`Patient?identifier=...`)
 * resolve to exactly one match (resolveConditionalReference). The searches run first, then one
 * synchronous copy: an await per element of every resource cost more than the
 * rest of a transaction's preparation. `underConditions`: targetsByCondition of a transaction.
 */
async function rewriteReferences(value: unknown, idMap: Map<string, string>, repository: Repository, e: Parsed, context: BundleContext, underConditions: ReadonlyMap<string, string[]> = new Map()): Promise<unknown> {
  const resolved = new Map<string, string>();
  for (const reference of conditionalReferences(value, idMap)) {
    if (!resolved.has(reference)) resolved.set(reference, await resolveConditionalReference(reference, repository, e, context, idMap, underConditions));
  }
  return copyWithReferences(value, idMap, resolved);
}

/** The conditional references of `value` that no entry's fullUrl answers, in document order. */
function conditionalReferences(value: unknown, idMap: Map<string, string>, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) conditionalReferences(v, idMap, out);
  } else if (value && typeof value === 'object' && (value as Resource).resourceType !== 'Bundle') {
    const object = value as Record<string, unknown>;
    for (const key of Object.keys(object)) {
      const v = object[key];
      if (key === 'reference' && typeof v === 'string') {
        if (!idMap.has(v) && CONDITIONAL_REFERENCE.test(v) && isResourceType(v.slice(0, v.indexOf('?')))) out.push(v);
      } else {
        conditionalReferences(v, idMap, out);
      }
    }
  }
  return out;
}

// `Type?` with no query at all is one too: refused for naming no criterion, never stored as written.
const CONDITIONAL_REFERENCE = /^[A-Z][A-Za-z]+\?/;

/**
 * A conditional reference names the one resource its search matches, among
 * what the caller may see (context.restriction), or among the resources the
 * transaction's entries create or matched under the very same condition
 * (`underConditions`): `POST Patient` with `ifNoneExist=identifier=s|v`, then an
 * Observation whose subject is `Patient?identifier=s|v`, links to that Patient
 * whether it existed or is created now (as HAPI FHIR does). Such an entry's
 * resource is the caller's own write or a match of the same restricted search,
 * so it tells nothing the caller may not know. Zero or several candidates is a
 * 412: a stored match that is not the entry's resource (one written between the
 * entry's search and this one) makes the reference ambiguous rather than
 * silently naming either.
 */
async function resolveConditionalReference(reference: string, repository: Repository, e: Parsed, context: BundleContext, idMap: Map<string, string>, underConditions: ReadonlyMap<string, string[]>): Promise<string> {
  const [type, query] = reference.split('?', 2);
  // Placeholders in it stand for the entries' ids, as in the entries' own conditions.
  const condition = resolvePlaceholders(queryPairs(query), idMap);
  const { matches } = await entrySearch(repository, type, condition, e, context);
  const candidates = new Set([...matches.map((m) => `${type}/${m.id}`), ...(underConditions.get(conditionKey(type, condition)) ?? [])]);
  if (candidates.size !== 1) {
    throw entryError(e, new PreconditionFailedError('FHIR_ERR_BUNDLE_CONDITIONAL_REFERENCE', `Conditional reference ${reference.slice(0, 120)} matched ${candidates.size} resources (needs exactly one)`));
  }
  return [...candidates][0]!;
}

/**
 * A copy of `value` with every link naming an entry rewritten to the
 * `Type/id` it got, as references are (http.html#trules): references,
 * elements of type uri and url whatever their name (`Attachment.url`,
 * `Extension.valueUri`, `Coding.system`, `Meta.source`...), and narrative
 * links. Types come from the element definitions (`index` at `path`: where in
 * which type `value` sits), choice types and extensions included. Not
 * rewritten:
 * - oid and uuid elements: their value must be an `urn:oid:` or `urn:uuid:`
 *   (their R4 regex), which a `Type/id` is not, so the rewrite would make the
 *   entry a 422; they keep the value sent;
 * - canonicals: they name a resource by its `url`, which a transaction does not
 *   change (R4 lists uri, url, oid, uuid, not canonical);
 * - an extension's own `url` (its identity: a plain string in the definitions),
 *   and the canonical `url` of a definitional resource (isCanonicalResource).
 * Where the JSON leaves the definitions (an unknown property, which validation
 * refuses later), only references are rewritten.
 */
function copyWithReferences(value: unknown, idMap: Map<string, string>, resolved: Map<string, string>, index?: TypeIndex, path = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => copyWithReferences(v, idMap, resolved, index, path));
  if (!value || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  const resourceType = object.resourceType;
  if (typeof resourceType === 'string') {
    // A Bundle stored as a resource (a document, a collection) keeps its references: they name its own entries.
    if (resourceType === 'Bundle') return value;
    index = typeIndex(resourceType);
    path = '';
  }
  const children = index?.byJsonName(path);
  const out: Record<string, unknown> = {};
  // Object.keys, not Object.entries: these walks visit every element of every
  // entry, and a [key, value] array per property was a tenth of a
  // transaction's garbage.
  for (const key of Object.keys(object)) {
    const v = object[key];
    if (key === 'reference' && typeof v === 'string') {
      out[key] = idMap.get(v) ?? resolved.get(v) ?? v;
      continue;
    }
    const child = children?.get(key);
    if (!child) {
      // `_given`, `_valueUri`: a primitive's id and extensions. Otherwise outside the definitions.
      out[key] = copyWithReferences(v, idMap, resolved, key.startsWith('_') && index ? typeIndex('Element') : undefined);
      continue;
    }
    const type = child.type;
    if (LINK_TYPES.has(type)) {
      out[key] = path === '' && key === 'url' && typeof resourceType === 'string' && isCanonicalResource(index!) ? v : linkValue(v, idMap);
    } else if (type === 'xhtml') {
      out[key] = typeof v === 'string' ? narrativeWithLinks(v, idMap) : v;
    } else if (isPrimitiveType(type)) {
      out[key] = v;
    } else if (index!.hasChildren(child.def.path)) {
      // A BackboneElement (or Element) defined inline: its children are in the same type.
      out[key] = copyWithReferences(v, idMap, resolved, index, child.def.path);
    } else if (child.def.info.contentReference !== undefined) {
      out[key] = copyWithReferences(v, idMap, resolved, index, child.def.info.contentReference);
    } else {
      // A complex type (Extension, Attachment, Coding...), or a resource (`contained`: its own resourceType says which).
      out[key] = copyWithReferences(v, idMap, resolved, type === 'Resource' ? undefined : typeIndex(type));
    }
  }
  return out;
}

/** The FHIR types whose values are links that a transaction rewrites (http.html#trules); see copyWithReferences. */
const LINK_TYPES: ReadonlySet<string> = new Set(['uri', 'url']);

/** A uri or url value (or a list of them) with the fullUrls of entries replaced by their `Type/id`. */
function linkValue(value: unknown, idMap: Map<string, string>): unknown {
  if (typeof value === 'string') return idMap.get(value) ?? value;
  return Array.isArray(value) ? value.map((v: unknown) => (typeof v === 'string' ? idMap.get(v) ?? v : v)) : value;
}

/**
 * Whether a resource's own `url` is its canonical identity (Questionnaire,
 * ValueSet, Contract...: those with a `version` string beside it), which no
 * transaction rewrites; a Device's `url`, its network address, is a link.
 */
function isCanonicalResource(index: TypeIndex): boolean {
  return index.byJsonName('').get('version')?.type === 'string';
}

/** `<a href>` and `<img src>` naming an entry, as the transaction rules ask. */
function narrativeWithLinks(div: string, idMap: Map<string, string>): string {
  if (!div.includes('href=') && !div.includes('src=')) return div;
  return div.replace(/\b(href|src)="([^"]*)"/g, (whole, attribute: string, target: string) => {
    const local = idMap.get(target);
    return local === undefined ? whole : `${attribute}="${local}"`;
  });
}

async function prepareWrite(repository: Repository, e: Parsed, context: BundleContext, blobs: string[], inThread: boolean): Promise<Done> {
  const type = e.target?.type ?? e.path[0];
  const existing = e.existing;
  if (e.method === 'POST') {
    await context.authorize('c', 'create', { resourceType: type }, true);
    // The match is answered as a read of it would be.
    if (existing) await context.authorize('r', 'read', { resourceType: type, id: existing.id, record: existing }, false);
    if (existing) return { response: { status: '200 OK', location: `${type}/${existing.id}/_history/${existing.vid}`, etag: `W/"${existing.vid}"`, lastModified: existing.lastUpdated }, record: existing };
    const { resource, blob } = await takeBinaryData(repository, e.resource!, context, blobs);
    const ruled = context.writeRules?.(type, { method: 'POST', next: resource }) ?? resource;
    const prepared = await repository.prepareCreate({ ...ruled, id: undefined } as Resource, { id: e.target!.id, blob, inThread, condition: creatingUnder(e) });
    return created(prepared);
  }
  if (e.method === 'DELETE') {
    await context.authorize('d', 'delete', { resourceType: type, id: e.target?.id }, true);
    if (!e.target) return { response: { status: '204 No Content' } };
    if (type === 'AuditEvent') throw new FhirError('FHIR_ERR_AUDIT_IMMUTABLE', 405, 'not-supported', 'AuditEvents cannot be changed or deleted');
    const current = await liveVersion(repository, type, e.target.id);
    // As a DELETE request would: the policy on what is deleted (the access itself is audited once, by writeCheck).
    await context.authorize('d', 'delete', { resourceType: type, id: e.target.id, ...(current ? { record: current } : { compartments: [] }) }, true);
    if (current) await context.refuseChange?.(current, 'delete');
    if (context.writeRules) context.writeRules(type, { method: 'DELETE', current });
    const prepared = await repository.prepareDelete(type, e.target.id, { ifMatch: e.entry.request?.ifMatch });
    return { prepared, response: { status: '204 No Content' } };
  }
  if (!e.target) throw new PreconditionFailedError('FHIR_ERR_STORE_NO_MATCH', 'The conditional patch matched nothing');
  const interaction = e.method === 'PATCH' ? 'patch' : 'update';
  await context.authorize('u', interaction, { resourceType: type, id: e.target.id }, true);
  if (type === 'AuditEvent') throw new FhirError('FHIR_ERR_AUDIT_IMMUTABLE', 405, 'not-supported', 'AuditEvents cannot be changed or deleted');
  // As a PUT or PATCH request would: the policy on the version being replaced, then (writeCheck) on the new one.
  const live = await liveVersion(repository, type, e.target.id);
  // A conditional PUT that matched nothing creates, with the body's id when it gives one: a live
  // resource with that id did not match, and is not overwritten (409, as over REST).
  if (live && e.method === 'PUT' && e.matchedNothing) throw new VersionConflictError(`${type}/${e.target.id} exists but does not match the condition`);
  if (live) {
    await context.authorize('u', interaction, { resourceType: type, id: e.target.id, record: live }, true);
    // Before a patch applies: its `test` operations would otherwise tell what is hidden.
    await context.refuseChange?.(live, interaction);
  }
  if (e.method === 'PATCH') {
    const current = await repository.read(type, e.target.id);
    const patched = applyBundlePatch(JSON.parse(current.json) as Resource, e.resource!);
    const ruled = context.writeRules?.(type, { method: 'PATCH', next: patched, current }) ?? patched;
    const prepared = await repository.prepareUpdate(type, e.target.id, ruled, { ifMatch: e.entry.request?.ifMatch ?? `W/"${current.vid}"`, method: 'PATCH', keepUnchanged: true });
    return created(prepared);
  }
  const own = e.resource!.id;
  // A conditional update's body may name no other resource than the one it matched; a PUT to
  // Type/id goes to prepareUpdate as sent, which checks its id as for a direct PUT (http.html#update).
  const conditional = e.path.length === 1;
  if (conditional && own !== undefined && own !== e.target.id) {
    throw new BadRequestError('FHIR_ERR_REST_ID_MISMATCH', `Body id ${String(own).slice(0, 64)} is not the id of the matching ${type} (${e.target.id})`, { expression: [`${type}.id`] });
  }
  const { resource, blob } = await takeBinaryData(repository, e.resource!, context, blobs);
  const ruled = context.writeRules ? context.writeRules(type, { method: 'PUT', next: resource, current: await repository.engine.current(type, e.target.id) }) ?? resource : resource;
  const body = conditional ? { ...ruled, id: e.target.id } as Resource : ruled;
  const prepared = await repository.prepareUpdate(type, e.target.id, body, { ifMatch: e.entry.request?.ifMatch, blob, inThread, keepUnchanged: true, condition: creatingUnder(e) });
  return created(prepared);
}

/**
 * A reference written in a Bundle must resolve: to another entry of the Bundle
 * (already rewritten to its id), or to a resource the server holds. An unmatched
 * `urn:uuid:`/`urn:oid:` reference or a `Type/id` naming nothing is a 422 naming
 * the entry, and so is one naming a resource the same transaction deletes.
 * Contained (`#id`) and absolute external references are left alone.
 */
async function checkReferencesResolve(repository: Repository, e: Parsed, written: Set<string>, deleted: ReadonlySet<string> = new Set()): Promise<void> {
  const references: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) { for (const v of value) walk(v); return; }
    // A stored Bundle's references name its own entries (see copyWithReferences).
    if (!value || typeof value !== 'object' || (value as Resource).resourceType === 'Bundle') return;
    const object = value as Record<string, unknown>;
    for (const key of Object.keys(object)) {
      const v = object[key];
      if (key === 'reference' && typeof v === 'string') references.push(v);
      else if (key !== 'contained') walk(v);
    }
  };
  walk(e.resource);
  for (const reference of references) {
    if (/^urn:(uuid|oid):/.test(reference)) {
      throw entryError(e, new UnprocessableError('FHIR_ERR_BUNDLE_UNRESOLVED_REFERENCE', `Reference ${reference.slice(0, 120)} names no entry of the Bundle`));
    }
    // Whether the resource exists is the question here, whatever version is named.
    const local = parseRelativeReference(reference, { version: 'any' });
    if (local && deleted.has(`${local.type}/${local.id}`)) {
      throw entryError(e, new UnprocessableError('FHIR_ERR_BUNDLE_UNRESOLVED_REFERENCE', `Reference ${reference.slice(0, 120)} names a resource this transaction deletes`));
    }
    if (!local || !isResourceType(local.type) || written.has(`${local.type}/${local.id}`)) continue;
    const current = await repository.engine.current(local.type, local.id);
    if (!current || current.deleted) {
      throw entryError(e, new UnprocessableError('FHIR_ERR_BUNDLE_UNRESOLVED_REFERENCE', `Reference ${reference.slice(0, 120)} names no resource of this server nor of the Bundle`));
    }
  }
}

async function liveVersion(repository: Repository, type: string, id: string): Promise<VersionRecord | undefined> {
  const current = await repository.engine.current(type, id);
  return current && !current.deleted ? current : undefined;
}

function created(prepared: PreparedWrite): Done {
  const r = prepared.result.record;
  return {
    prepared, record: r,
    response: { status: prepared.result.created ? '201 Created' : '200 OK', location: `${r.type}/${r.id}/_history/${r.vid}`, etag: `W/"${r.vid}"`, lastModified: r.lastUpdated },
  };
}

/** Binary entries keep their bytes in the blob store, like POST /Binary does. */
async function takeBinaryData(repository: Repository, resource: Resource, context: BundleContext, blobs: string[]): Promise<{ resource: Resource; blob?: string }> {
  if (resource.resourceType !== 'Binary') return { resource };
  const { data, ...rest } = resource as Binary;
  if (data !== undefined && (typeof data !== 'string' || !isBase64Binary(data))) {
    throw new BadRequestError('FHIR_ERR_REST_BINARY_DATA', 'Binary.data must be base64', { expression: ['Binary.data'] });
  }
  const info = await repository.engine.blobs.put(Readable.from([Buffer.from(data ?? '', 'base64')]), { maxBytes: context.binaryMaxBytes });
  blobs.push(info.key);
  return { resource: rest as Resource, blob: info.key };
}

/** PATCH inside a Bundle: a Binary holding a JSON Patch document (http.html#patch). */
function applyBundlePatch(current: Resource, carrier: Resource): Resource {
  if (carrier.resourceType !== 'Binary' || !/json-patch\+json/.test((carrier as Binary).contentType ?? '')) {
    throw new UnprocessableError('FHIR_ERR_BUNDLE_PATCH', 'PATCH entries need a Binary with contentType application/json-patch+json');
  }
  const text = Buffer.from((carrier as Binary).data ?? '', 'base64').toString('utf8');
  let patch: unknown;
  try {
    patch = JSON.parse(text);
  } catch {
    throw new BadRequestError('FHIR_ERR_REST_PATCH_MALFORMED', 'The JSON Patch in the Binary is not valid JSON');
  }
  // What a PATCH sent over REST is refused for (fhir-content.ts): a key twice, a number that would change.
  checkJsonBody(text, patch, { subject: 'the JSON Patch', refusePrototypeKeys: true });
  return applyJsonPatch(current, patch);
}

async function responseEntry(done: Done, context: BundleContext): Promise<BundleEntry> {
  const entry: BundleEntry = { response: done.response };
  const record = done.record;
  if (record && !record.deleted) {
    entry.fullUrl = `${context.fhirBase}/${record.type}/${record.id}`;
    if (context.returnPreference !== 'minimal' && context.returnPreference !== 'OperationOutcome' && !record.blob) {
      // As a read of the version would show it: a write's answer must not tell more than a read.
      entry.resource = JSON.parse((context.disclose ? await context.disclose(record) : record).json) as Resource;
    }
  }
  if (context.returnPreference === 'OperationOutcome' && done.prepared?.result.warnings.length) {
    entry.response = { ...entry.response!, outcome: { resourceType: 'OperationOutcome', issue: done.prepared.result.warnings } };
  }
  return entry;
}

function entryRead(e: Parsed): EntryRead {
  const { ifNoneMatch, ifModifiedSince } = e.entry.request!;
  return { method: e.method === 'HEAD' ? 'HEAD' : 'GET', ...(ifNoneMatch ? { ifNoneMatch } : {}), ...(ifModifiedSince ? { ifModifiedSince } : {}) };
}

function interactionOf(e: Parsed): string {
  return e.method === 'POST' ? 'create' : e.method === 'DELETE' ? 'delete' : e.method === 'PATCH' ? 'patch' : 'update';
}

/** Wraps an entry's failure so the OperationOutcome names the entry (Bundle.entry[n]). */
function entryError(e: Parsed, err: unknown): unknown {
  if (!(err instanceof FhirError)) return err;
  if (err.issues.some((i) => i.expression?.some((x) => x.startsWith('Bundle.entry[')))) return err;
  const where = `Bundle.entry[${e.index}]`;
  const issues: OperationOutcomeIssue[] = err.issues.map((i) => ({
    ...i,
    diagnostics: `${where} (${e.method} ${e.url.slice(0, 120)}): ${i.diagnostics ?? ''}`,
    expression: i.expression?.length ? i.expression.map((x) => `${where}.resource.${x.replace(/^[A-Z][A-Za-z]+\./, '')}`) : [where],
  }));
  return new FhirError(err.code, err.statusCode, err.issueCode, issues[0]?.diagnostics ?? err.message, { issues, headers: err.headers, cause: err });
}

