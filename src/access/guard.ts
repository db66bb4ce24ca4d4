import type { FastifyRequest } from 'fastify';
import { compiledQuery, mingoQuery } from '../store/lazy-mingo.js';
import { BadRequestError, ForbiddenError, UnauthorizedError } from '../errors.js';
import { sameParty, type Principal } from '../auth/principal.js';
import type { Interaction, ResourceScope } from '../auth/scopes.js';
import { scopeAllows } from '../auth/scopes.js';
import { isFhirId } from '../fhir/references.js';
import { parseSearchRequest } from '../fhir/search/parse.js';
import { compileFilter } from '../store/filter.js';
import type { Filter, StoreEngine, VersionRecord } from '../store/engine.js';
import { HIDDEN_FROM_PATIENT, HIDDEN_FROM_PATIENT_MS, HIDDEN_FROM_REPRESENTATIVES, MASKED_FROM_PROFESSIONALS, visibilityLabels, withoutLabel, VISIBILITY_SYSTEM } from './labels.js';
import type { Decision } from './policy.js';
import { ACTION_NAMES, decide, isSharedReferenceType } from './policy.js';
import type { PatientFacts } from './patient-facts.js';
import { loadPatientFacts, patientsOfProfessional } from './patient-facts.js';
import { consentStoodSince } from './app-consent-standing.js';

export interface Target {
  resourceType: string;
  id?: string;
  compartments?: string[];
  /** The stored version concerned, when known (labels, write time, scope restrictions). */
  record?: Pick<VersionRecord, 'idx' | 'ts' | 'comp' | 'type' | 'id'>;
}

/** Header through which a professional asks for emergency access, with the reason as value. */
export const BREAK_THE_GLASS_HEADER = 'x-break-the-glass';

/**
 * What a read decision needs, with or without an HTTP request behind it: who
 * reads, the store, the clock, the emergency reason they gave, and what was
 * loaded for earlier decisions of the same answer (each patient's facts, each
 * resource's current version), loaded once however many records are judged.
 */
export interface ReadContext {
  readonly principal: Principal;
  readonly engine: StoreEngine;
  /** This server's FHIR base: references written under it name local resources (patient-facts.ts localKey). */
  readonly fhirBase: string;
  readonly now: () => number;
  readonly breakTheGlass: string | undefined;
  readonly facts: Map<string, Promise<PatientFacts>>;
  readonly currentVersions: Map<string, Promise<VersionRecord | undefined>>;
  /** Who created a Subscription (space/subscriptions), when the context can tell: its owner may read it (policy rule subscription-owner). */
  readonly subscriptionOwner?: (id: string) => Promise<Pick<Principal, 'clientId' | 'subject'> | undefined>;
  /** Whether `principal` owns each Subscription judged, looked up once per context (the versions of one history). */
  readonly ownedSubscriptions: Map<string, Promise<boolean>>;
}

/** A context for decisions (a request's, or one apart from any request: a Subscription's notification, judged for its owner). */
export function readContext(principal: Principal, engine: StoreEngine, now: () => number, fhirBase: string, breakTheGlass?: string,
  subscriptionOwner?: ReadContext['subscriptionOwner']): ReadContext {
  return { principal, engine, now, fhirBase, breakTheGlass, facts: new Map(), currentVersions: new Map(), ownedSubscriptions: new Map(), ...(subscriptionOwner ? { subscriptionOwner } : {}) };
}

const requestContexts = new WeakMap<FastifyRequest, ReadContext>();

/** The request's context, made at its first decision: every decision of one request shares what it loaded. */
function contextOf(request: FastifyRequest): ReadContext {
  let context = requestContexts.get(request);
  if (!context) {
    const { subscriptions } = request.server;
    context = readContext(principalOf(request), request.server.engine, request.server.now, request.server.config.fhirBase, breakTheGlassReason(request), (id) => subscriptions.owner(id));
    requestContexts.set(request, context);
  }
  return context;
}

/**
 * Asks the policy about one access, audits the decision and throws 403 (naming
 * the rule) when refused. Every route goes through here: no route reads the
 * principal's scopes itself.
 */
export async function authorize(request: FastifyRequest, action: Interaction, interaction: string, target: Target, options: { precheck?: boolean } = {}): Promise<Decision> {
  const context = contextOf(request);
  const { principal } = context;
  const compartments = target.compartments ?? target.record?.comp;
  const now = context.now();
  const labelled = target.record && (interaction === 'vread' ? await pastVersionLabels(context, target.record) : { labels: visibilityLabels(target.record), writtenAt: target.record.ts });
  const factPatients = factsNeeded(principal, compartments);
  let decision = decide({
    principal, action, resourceType: target.resourceType, id: target.id ?? target.record?.id, compartments,
    labels: labelled?.labels,
    writtenAt: labelled?.writtenAt,
    now,
    facts: factPatients ? await factsFor(context, factPatients, now) : undefined,
    breakTheGlass: context.breakTheGlass,
    // Checked here, not in the function, so that every other access awaits nothing more.
    ownedByCaller: target.resourceType === 'Subscription' ? await ownsSubscription(context, target.id ?? target.record?.id, compartments) : undefined,
  });
  if (decision.allow && target.record && decision.rule !== 'fhir-user') {
    const restricted = checkScopeQueries(principal, action, target.record);
    if (restricted !== undefined) decision = (await restricted) ?? decision;
  }
  // A precheck (before the resource is loaded) audits only refusals: the final check audits the access itself.
  if ((!options.precheck || !decision.allow) && firstOfRequest(request, action, interaction, target, decision)) {
    request.server.audit.record({
      principal, action, interaction, resourceType: target.resourceType, id: target.id ?? target.record?.id,
      compartments: compartments ?? [], allowed: decision.allow, rule: decision.rule, reason: decision.reason, purpose: decision.purpose,
      requestId: request.id, address: request.ip,
    }, request);
  }
  if (decision.allow && decision.purpose === 'BTG' && !options.precheck) await noticeEmergencyAccess(request, context, compartments ?? [], now);
  if (!decision.allow) throw new ForbiddenError(`Access refused (rule ${decision.rule}): ${decision.reason}`, decision.rule);
  return decision;
}

/**
 * Whether a person (or an app acting for one) asks about a Subscription they
 * created: the policy lets its owner manage it. Callers ask for a
 * Subscription only, and it is looked up only when judged outside any space
 * (a system client's scopes decide alone). `authorize` looks again at each
 * decision (a write claims its owner during its request); `mayRead` once per
 * Subscription and context (every version of one history).
 */
async function ownsSubscription(context: ReadContext, id: string | undefined, compartments: readonly string[] | undefined): Promise<boolean | undefined> {
  const { principal, subscriptionOwner } = context;
  if (principal.kind === 'system' || id === undefined || compartments?.length !== 0 || !subscriptionOwner) return undefined;
  const owner = await subscriptionOwner(id);
  return owner !== undefined && sameParty(owner, principal);
}

const auditedWrites = new WeakMap<FastifyRequest, Set<string>>();

/**
 * Whether this decision is the request's first on this write: a write redone
 * in its turn after another server's write came first (resource-turns.ts) is
 * judged again, but it is one access, audited once. Reads and searches are
 * never redone, and are not looked up.
 */
function firstOfRequest(request: FastifyRequest, action: Interaction, interaction: string, target: Target, decision: Decision): boolean {
  if (action === 'r' || action === 's') return true;
  const key = `${action}|${interaction}|${target.resourceType}/${target.id ?? target.record?.id ?? ''}|${decision.allow}|${decision.rule}`;
  let seen = auditedWrites.get(request);
  if (!seen) auditedWrites.set(request, (seen = new Set()));
  if (seen.has(key)) return false;
  seen.add(key);
  return true;
}

/** The policy as a search filter per type (searchRestriction). */
export interface PolicyRestriction {
  (type: string): Filter | null;
  /**
   * Loads, before a query on `types` runs ([]: every type), what its filters
   * need that other queries do not: the Subscriptions a person owns, looked up
   * in the store only for a query that may return Subscriptions. Until then a
   * person's Subscriptions match nothing, as other Subscriptions do (they are
   * in no space), never more.
   */
  prepare(types: readonly string[]): Promise<void>;
}

/**
 * The policy as a search restriction: a filter AND'ed into every query of a
 * type (matches, _include, counts), or null when the type is not visible at
 * all. Search then never returns what a read would refuse. Built once per
 * request (it may need the store), then applied synchronously per type.
 */
export async function searchRestriction(request: FastifyRequest): Promise<PolicyRestriction> {
  const principal = principalOf(request);
  const now = request.server.now();
  let people: Filter | null = {};
  // AuditEvents: the trail of a space names accesses to resources shared with another space too (policy.ts).
  let trail: Filter | null = {};
  // For a person (or an app acting for one): whether the policy lets them search this type in their space at all.
  let inOwnSpace: ((type: string) => boolean) | undefined;
  if (principal.kind === 'patient' || principal.kind === 'app' || principal.kind === 'related-person') {
    if (!principal.patient) people = trail = null;
    else {
      const patient = `Patient/${principal.patient}`;
      const facts = await factsFor(contextOf(request), [patient], now);
      // Asked per type: a probe on one fixed type would stop at its scope check and never reach the app's Consent.
      inOwnSpace = (type) => decide({ principal, action: 's', resourceType: type, compartments: [patient], facts, now }).allow;
      const hidden: Filter[] = [{ $or: [withoutLabel(HIDDEN_FROM_PATIENT), { ts: { $lte: now - HIDDEN_FROM_PATIENT_MS } }] }];
      const isRepresentative = principal.kind === 'related-person' || principal.fhirUser?.startsWith('RelatedPerson/');
      if (isRepresentative) hidden.push(withoutLabel(HIDDEN_FROM_REPRESENTATIVES));
      // Only what is in her space alone: a resource also in another patient's compartment (an Appointment
      // of two patients) is refused on read, each compartment having to be allowed.
      people = { $and: [{ comp: patient }, { comp: { $not: { $elemMatch: { $ne: patient } } } }, ...hidden] };
      trail = { $and: [{ comp: patient }, ...hidden] };
    }
  } else if (principal.kind === 'practitioner') {
    let { asDoctor, byConsent } = await patientsOfProfessional(request.server.engine, principal.fhirUser ?? '', now, request.server.config.fhirBase);
    // A token bound to a launch patient reaches only that patient's space (policy rule launch-patient-only).
    if (principal.patient !== undefined) {
      const launched = `Patient/${principal.patient}`;
      asDoctor = asDoctor.filter((p) => p === launched);
      byConsent = byConsent.filter((p) => p === launched);
    }
    const btgPatient = await breakTheGlassSearch(request, principal, asDoctor, byConsent);
    const consented = btgPatient ? [...byConsent, btgPatient] : byConsent;
    people = professionalFilter(asDoctor, consented);
    trail = { $or: [{ comp: { $in: asDoctor } }, { comp: { $in: consented } }] };
  } else if (principal.kind === 'admin') {
    people = trail = null;
  }
  // Reference data (who the professionals are, what a medication is) is in no space: any signed-in
  // person who may search the type finds it, as they may read it (policy rule shared-reference-data).
  const inNoSpace: Filter = { 'comp.0': { $exists: false } };
  const orShared: Filter | null = people && { $or: [people, inNoSpace] };
  // A Subscription is in no space: besides system clients, its owner, and only its owner, finds it as they
  // read it (policy rule subscription-owner), whether or not they act in a space. In the query, by id, so
  // that totals and pages count only theirs; loaded by `prepare`, for queries that may return Subscriptions.
  let ownedSubscriptions: Filter | undefined;
  const mayOwnSubscriptions = principal.kind !== 'system' && decide({ principal, action: 's', resourceType: 'Subscription' }).allow;
  const restriction = (type: string): Filter | null => {
    const byScope = decide({ principal, action: 's', resourceType: type });
    if (!byScope.allow) return null;
    if (type === 'Subscription' && ownedSubscriptions) {
      const scopeFilter = scopeQueryFilter(principal.scopes, 's', type);
      if (scopeFilter === null) return null;
      return scopeFilter ? { $and: [ownedSubscriptions, scopeFilter] } : ownedSubscriptions;
    }
    if (people === null || trail === null) return null;
    const shared = isSharedReferenceType(type);
    const ownSpace = !inOwnSpace || inOwnSpace(type);
    if (!ownSpace && !shared) return null;
    const scopeFilter = scopeQueryFilter(principal.scopes, 's', type);
    if (scopeFilter === null) return null;
    const parts: Filter[] = [];
    if (principal.kind !== 'system') parts.push(type === 'AuditEvent' ? trail : !shared ? people : ownSpace ? orShared! : inNoSpace);
    if (scopeFilter) parts.push(scopeFilter);
    return parts.length === 0 ? {} : parts.length === 1 ? parts[0] : { $and: parts };
  };
  return Object.assign(restriction, {
    async prepare(types: readonly string[]): Promise<void> {
      if (!mayOwnSubscriptions || ownedSubscriptions || (types.length > 0 && !types.includes('Subscription'))) return;
      const ids = await request.server.subscriptions.ownedBy(principal);
      ownedSubscriptions = { $and: [inNoSpace, { id: { $in: ids } }] };
    },
  });
}

/**
 * What a professional's search may return: every compartment of a resource
 * must be one of their patients (as on read, where each compartment must be
 * allowed), and a document masked from professionals only when all of its
 * patients have them as regular doctor. One object per request, shared by
 * every type (the executor groups types by filter identity).
 */
function professionalFilter(asDoctor: string[], consented: string[]): Filter {
  const all = [...new Set([...asDoctor, ...consented])];
  return {
    $and: [
      { comp: { $in: all } },
      { comp: { $not: { $elemMatch: { $nin: all } } } },
      { $or: [{ comp: { $not: { $elemMatch: { $nin: asDoctor } } } }, withoutLabel(MASKED_FROM_PROFESSIONALS)] },
    ],
  };
}

/**
 * The patient a professional's search reaches by break-the-glass, judged as
 * a read of their space would be: refused (403, audited) when the patient
 * refused emergency access or blocked this professional; when granted, the
 * patient and their regular doctor are told, as for a read. Undefined when
 * no emergency access is asked for, or none is needed.
 */
async function breakTheGlassSearch(request: FastifyRequest, principal: Principal, asDoctor: string[], byConsent: string[]): Promise<string | undefined> {
  if (!breakTheGlassReason(request)) return undefined;
  const patient = breakTheGlassPatient(request);
  if (!patient || asDoctor.includes(patient) || byConsent.includes(patient)) return undefined;
  const type = (request.params as { type?: string } | undefined)?.type;
  const decision = await authorize(request, 's', 'search-type', { resourceType: type && type !== '*' ? type : searchedForBreakTheGlass(principal), compartments: [patient] });
  return decision.allow ? patient : undefined;
}

/**
 * The type an emergency search over several types (`Patient/x/*`, `_type=`)
 * is judged on: the question is the patient's space, and each type's scopes
 * are applied per type afterwards. Patient when the scopes let the caller
 * search it, else the first type they do (a professional granted
 * `user/Observation.rs` alone was refused for lacking Patient).
 */
function searchedForBreakTheGlass(principal: Principal): string {
  if (scopeAllows(principal.scopes, 's', 'Patient').length) return 'Patient';
  return principal.scopes.find((scope) => scope.resourceType !== '*' && scope.interactions.has('s'))?.resourceType ?? 'Patient';
}

/**
 * The type a search over every type (`/_history`) is prechecked on: `*` when a
 * scope grants searching every type, else one type a scope lets the principal
 * search, so that `system/Observation.s` may ask and be answered with
 * Observations only (each version is then judged); `*` (refused) when no
 * scope grants searching at all.
 */
export function everyTypeProbe(principal: Principal): string {
  if (scopeAllows(principal.scopes, 's', '*').length) return '*';
  return principal.scopes.find((scope) => scope.resourceType !== '*' && scope.interactions.has('s'))?.resourceType ?? '*';
}

/**
 * Whether a read of this version would be allowed, without auditing it (the
 * caller audits the whole answer once): used to filter history pages.
 */
export function isReadable(request: FastifyRequest, record: VersionRecord, options: { history?: boolean; action?: 'r' | 's' } = {}): Promise<boolean> {
  return mayRead(contextOf(request), record, options);
}

/** `isReadable` for a context, request or not (see ReadContext). */
export async function mayRead(context: ReadContext, record: VersionRecord, options: { history?: boolean; action?: 'r' | 's' } = {}): Promise<boolean> {
  const { principal } = context;
  // `s` when the version comes from a search or a type's or the system's history, which SMART grants apart from reads.
  const action = options.action ?? 'r';
  const now = context.now();
  const { labels, writtenAt } = options.history ? await pastVersionLabels(context, record) : { labels: visibilityLabels(record), writtenAt: record.ts };
  const factPatients = factsNeeded(principal, record.comp);
  const decision = decide({
    principal, action, resourceType: record.type, id: record.id, compartments: record.comp, labels, writtenAt, now,
    facts: factPatients ? await factsFor(context, factPatients, now) : undefined,
    breakTheGlass: context.breakTheGlass,
    // As `authorize` does, so that a history (judged here, version by version) answers the owner as a read does.
    ownedByCaller: record.type === 'Subscription' ? await ownsSubscriptionOnce(context, record) : undefined,
  });
  return decision.allow && (decision.rule === 'fhir-user' || !(await checkScopeQueries(principal, action, record)));
}

/** `ownsSubscription` for the versions of a history: one look-up per Subscription and context. */
function ownsSubscriptionOnce(context: ReadContext, record: VersionRecord): Promise<boolean | undefined> {
  let pending = context.ownedSubscriptions.get(record.id);
  if (!pending) context.ownedSubscriptions.set(record.id, (pending = ownsSubscription(context, record.id, record.comp).then(Boolean)));
  return pending;
}

/**
 * The labels a version is read under: its own and, when it is a past
 * version, its resource's current ones, written at the later of the two
 * times. Masking a document (or hiding it from representatives, or from the
 * patient for a month) hides its earlier versions too, which carry no label.
 */
async function pastVersionLabels(context: ReadContext, record: VersionRecord | NonNullable<Target['record']>): Promise<{ labels: readonly string[]; writtenAt: number }> {
  const own = visibilityLabels(record);
  const key = `${record.type}/${record.id}`;
  let pending = context.currentVersions.get(key);
  if (!pending) context.currentVersions.set(key, (pending = context.engine.current(record.type, record.id)));
  const current = await pending;
  if (!current || current.deleted || current.hk === (record as VersionRecord).hk) return { labels: own, writtenAt: record.ts };
  const later = visibilityLabels(current);
  if (later.length === 0) return { labels: own, writtenAt: record.ts };
  return { labels: [...new Set([...own, ...later])], writtenAt: Math.max(record.ts, current.ts) };
}

/** One string for every search's audit (see policy.ts grantedBy). */
const SEARCH_REASON = `${ACTION_NAMES.s} results filtered by policy`;

/**
 * Audits a search or history answer: one event per patient whose data it
 * returned, so that each patient's trail ("who looked at my space") names
 * only them and never tells one patient about another; for a caller acting
 * for a patient, one in that patient's trail when nothing was returned.
 */
export function auditSearch(request: FastifyRequest, resourceType: string, compartments: Iterable<string>, interaction = 'search-type'): void {
  const principal = principalOf(request);
  const patients = [...new Set(compartments)];
  // Someone acting for a patient searches that patient's space only: a search that returned
  // nothing, or only a count, is still an access to it, and goes to that trail.
  if (patients.length === 0 && principal.patient) patients.push(`Patient/${principal.patient}`);
  const btg = breakTheGlassReason(request);
  for (const group of patients.length ? patients.map((p) => [p]) : [[]]) {
    request.server.audit.record({
      principal, action: 's', interaction, resourceType, compartments: group,
      allowed: true, rule: 'search', reason: SEARCH_REASON, requestId: request.id, address: request.ip,
      ...(btg && principal.kind === 'practitioner' ? { purpose: 'BTG' } : {}),
    }, request);
  }
}

export function principalOf(request: FastifyRequest): Principal {
  const principal = (request as FastifyRequest & { principal?: Principal | null }).principal;
  if (!principal) throw new UnauthorizedError();
  return principal;
}

/**
 * Whose facts a decision needs: those of each patient whose compartment the
 * resource is in and, for an app acting for a patient, that patient's
 * whatever the resource (in no space, or not loaded yet: a search's
 * precheck), since such an app does nothing without her Consent (policy rule
 * app-without-consent). None for a system client.
 */
function factsNeeded(principal: Principal, compartments: readonly string[] | undefined): string[] | undefined {
  if (principal.kind === 'system') return undefined;
  if (principal.kind === 'app' && principal.patient !== undefined) {
    const own = `Patient/${principal.patient}`;
    return compartments?.includes(own) ? [...compartments] : [...(compartments ?? []), own];
  }
  return compartments?.length ? [...compartments] : undefined;
}

/** Facts per patient, loaded once per context. */
async function factsFor(context: ReadContext, compartments: string[], now: number): Promise<Map<string, PatientFacts>> {
  const out = new Map<string, PatientFacts>();
  for (const patient of compartments) {
    let pending = context.facts.get(patient);
    if (!pending) context.facts.set(patient, (pending = factsAsJudged(context, patient, now)));
    out.set(patient, await pending);
  }
  return out;
}

/**
 * A patient's facts as the context's principal is judged on them. For an app
 * in the space of the patient it acts for, her Consent counts only if it
 * stood without a break since the app was authorised (app-consent-standing.ts):
 * a Consent withdrawn then made active again does not revive that
 * authorization's tokens, which the policy then refuses as it refuses them
 * while the Consent is withdrawn (rule app-without-consent).
 */
async function factsAsJudged(context: ReadContext, patient: string, now: number): Promise<PatientFacts> {
  const facts = await loadPatientFacts(context.engine, patient, now, context.fhirBase);
  const { principal } = context;
  if (principal.kind !== 'app' || `Patient/${principal.patient}` !== patient || principal.grantedAt === undefined) return facts;
  const client = `client:${principal.clientId}`;
  if (!facts.permitted.has(client) || (await consentStoodSince(context.engine, patient, principal.clientId, principal.grantedAt, now, context.fhirBase))) return facts;
  const permitted = new Set(facts.permitted);
  permitted.delete(client);
  const appScopes = new Map(facts.appScopes);
  appScopes.delete(principal.clientId);
  return { ...facts, permitted, appScopes };
}

/** Tells each patient (and their regular doctor) once per request about an emergency access. */
async function noticeEmergencyAccess(request: FastifyRequest, context: ReadContext, compartments: string[], now: number): Promise<void> {
  const flags = request as FastifyRequest & { emergencyNoticed?: Set<string> };
  const told = (flags.emergencyNoticed ??= new Set());
  const fresh = compartments.filter((p) => !told.has(p));
  if (!fresh.length) return;
  const facts = await factsFor(context, fresh, now);
  for (const p of fresh) told.add(p);
  await request.server.audit.emergencyAccess(context.principal, fresh.map((patient) => ({ patient, doctors: [...(facts.get(patient)?.generalPractitioners ?? [])] })), context.breakTheGlass ?? '');
}

/**
 * The emergency reason, or undefined when none is asked for. A header whose
 * reason is too short to tell anyone why (the holder and the regular doctor
 * are told it) is a 400, not a silent ordinary request the policy then refuses.
 */
function breakTheGlassReason(request: FastifyRequest): string | undefined {
  const value = request.headers[BREAK_THE_GLASS_HEADER];
  if (value === undefined) return undefined;
  const text = (Array.isArray(value) ? value[0] : value)?.trim() ?? '';
  if (text.length < 3) {
    throw new BadRequestError('FHIR_ERR_ACCESS_BTG_REASON', `${BREAK_THE_GLASS_HEADER} needs the reason for the emergency access (3 characters at least)`, { expression: [BREAK_THE_GLASS_HEADER] });
  }
  return text.slice(0, 500);
}

/** For a search under break-the-glass: the one patient named by `patient=`/`subject=`. */
function breakTheGlassPatient(request: FastifyRequest): string | undefined {
  const url = new URL(request.url, 'http://x');
  const value = url.searchParams.get('patient') ?? url.searchParams.get('subject') ?? (request.url.startsWith('/fhir/Patient/') ? request.url : null);
  if (!value) return undefined;
  const id = value.replace(/^.*Patient\//, '').split(/[/?]/)[0];
  return isFhirId(id) ? `Patient/${id}` : undefined;
}

/**
 * v2 scopes restricted by a query (`patient/Observation.rs?category=...`):
 * the resource must match the query of at least one granting scope.
 * Undefined: no restriction applies; null: no scope grants at all.
 */
function scopeQueryFilter(scopes: ResourceScope[], action: Interaction, type: string): Filter | undefined | null {
  const grants = scopeAllows(scopes, action, type);
  if (!grants.length) return null;
  if (grants.some((g) => !g.query?.length)) return undefined;
  const filters = grants.map((g) => compileFilter(parseSearchRequest([type], g.query!, { strict: true, defaultCount: 1, maxCount: 1 })));
  return filters.length === 1 ? filters[0] : { $or: filters };
}

/**
 * The refusal when the record is outside every granting scope's query;
 * undefined when no query restricts the action, answered without a promise
 * (the usual case, on every read), else once the query is tested.
 */
function checkScopeQueries(principal: Principal, action: Interaction, record: NonNullable<Target['record']>): Decision | undefined | Promise<Decision | undefined> {
  const filter = scopeQueryFilter(principal.scopes, action, record.type);
  if (filter === undefined) return undefined;
  const refusal: Decision = { allow: false, rule: 'scope-query', reason: `the resource is outside the search restriction of the granted ${ACTION_NAMES[action]} scopes` };
  if (filter === null) return refusal;
  return mingoQuery().then((Mingo) => (compiledQuery(Mingo, filter).test(record as unknown as Record<string, unknown>) ? undefined : refusal));
}

export { VISIBILITY_SYSTEM };
