import { decodeJwt } from 'jose';
import type { AuditEvent, Bundle, Communication, Consent, DocumentReference, Resource } from '@medplum/fhirtypes';
import type { CheckContext } from '../../runner/check-context.js';
import type { HttpResponse } from '../../runner/http-client.js';
import { hasSearchParam } from '../../runner/capabilities.js';
import { fixture } from '../../runner/suite.js';
import { allPages, createResource, parseLocation, readResource, resourcesOf, unique } from '../fhir-helpers.js';
import {
  BREAK_THE_GLASS_HEADER, consentFor, DOCUMENT_CLASS_SYSTEM, emergencyObjection, findRegularDoctors, localReference, PATIENT_CLASS, patientDocument,
  professionalDocument, requireActors, seedSpace,
} from './fixtures.js';
import type { RegularDoctors, SpaceFixtures } from './fixtures.js';

export interface SpaceState {
  fixtures: (ctx: CheckContext) => Promise<SpaceFixtures>;
  /** The patient's regular doctors (Patient.generalPractitioner), read once. */
  regularDoctors: (ctx: CheckContext) => Promise<RegularDoctors>;
}

export function createSpaceState(): SpaceState {
  return {
    fixtures: fixture((ctx) => {
      const a = ctx.tokens.spaceActors ?? {};
      return seedSpace(ctx, { patientId: a.patientId!, professionalRef: a.professionalRef });
    }),
    regularDoctors: fixture((ctx) => findRegularDoctors(ctx, ctx.tokens.spaceActors?.patientId ?? '')),
  };
}

const as = (token: string) => ({ token });

/** Ids of the DocumentReferences a search of the patient's documents returns to that token (every page). */
async function documentIds(ctx: CheckContext, patientId: string, token: string, who: string, extra: Record<string, string> = {}): Promise<Set<string>> {
  const res = await ctx.http.get('DocumentReference', { query: { patient: patientId, _count: '100', ...extra }, auth: as(token) });
  ctx.expectStatus(res, 200, `${who}: search DocumentReference?patient=${patientId}`);
  const pages = await allPagesAs(ctx, ctx.resource<Bundle>(res, 'Bundle'), token, who);
  return new Set(resourcesOf<DocumentReference>(pages, 'DocumentReference').map((d) => d.id!));
}

async function allPagesAs(ctx: CheckContext, first: Bundle, token: string, who: string): Promise<Bundle[]> {
  // allPages uses the suite's own token; follow the pages with the actor's instead.
  const pages = [first];
  let url = first.link?.find((l) => l.relation === 'next')?.url;
  while (url && pages.length < 50) {
    ctx.expect(ctx.http.isUnderBase(url), `${who}: the next link ${url} leads outside the server's base ${ctx.base}: a paging link must stay on the server (nothing was sent there)`);
    const res = await ctx.http.get(url, { auth: as(token) });
    ctx.expectStatus(res, 200, `${who}: search page ${pages.length + 1}`);
    const page = ctx.resource<Bundle>(res, 'Bundle');
    pages.push(page);
    url = page.link?.find((l) => l.relation === 'next')?.url;
  }
  return pages;
}

/** A read of the document with that token; `refusalExpected` when a 401 is the answer the check looks for. */
function readAs(ctx: CheckContext, doc: DocumentReference, token: string, refusalExpected = false): Promise<HttpResponse> {
  return ctx.http.get(`DocumentReference/${doc.id}`, { auth: as(token), refusalExpected });
}

export async function maskedFromProfessionals(ctx: CheckContext, state: SpaceState): Promise<void> {
  const a = requireActors(ctx, ['patientId', 'professionalToken', 'professionalRef']);
  const { plain, masked } = await state.fixtures(ctx);
  // Control: the professional, permitted by the patient, does see the unmasked document; otherwise a refusal proves nothing.
  ctx.expectStatus(await readAs(ctx, plain, a.professionalToken), 200, 'a permitted professional reads an unmasked document');
  const res = await readAs(ctx, masked, a.professionalToken);
  ctx.expectStatus(res, [403, 404], 'a professional (not the regular doctor) reads a MASQUE_PS document');
  const ids = await documentIds(ctx, a.patientId, a.professionalToken, 'professional');
  ctx.expect(ids.has(plain.id!), `the professional's search does not return the unmasked document ${plain.id} (the control)`);
  ctx.expect(!ids.has(masked.id!), `the professional's search returns the MASQUE_PS document ${masked.id}`);
  const byId = await documentIds(ctx, a.patientId, a.professionalToken, 'professional', { _id: masked.id! });
  ctx.expect(byId.size === 0, `searching _id=${masked.id} returns the MASQUE_PS document to the professional`);
}

export async function regularDoctor(ctx: CheckContext, state: SpaceState): Promise<void> {
  const a = requireActors(ctx, ['patientId', 'doctorToken']);
  const { masked, hidden } = await state.fixtures(ctx);
  await expectDoctorSees(ctx, a, [masked, hidden], '');
  const doctors = await state.regularDoctors(ctx);
  if (doctors.refs.length === 0) return ctx.notChecked(`that the regular doctor cannot be blocked: ${doctors.unknown}`);
  const named = doctors.refs.join(', ');
  const created = await ctx.http.request({ method: 'POST', path: 'Consent', body: consentFor(ctx, a.patientId, doctors.refs, 'deny'), headers: { prefer: 'return=representation' } });
  if (created.status !== 201) {
    // Refusing to record the block is one way of never applying it.
    ctx.expectStatus(created, [400, 403, 409, 422], `create a deny Consent naming the regular doctor (${named})`);
    return ctx.note(`the server refused a deny Consent naming the regular doctor (${named}): HTTP ${created.status}`);
  }
  const deny = await createdResource<Consent>(ctx, created, 'Consent', 'the deny Consent naming the regular doctor');
  try {
    await expectDoctorSees(ctx, a, [masked], ` named (${named}) in the patient's deny Consent ${deny.id}`);
  } finally {
    // Lift the block so the run leaves the space as it found it.
    await ctx.http.request({ method: 'PUT', path: `Consent/${deny.id}`, body: { ...deny, status: 'inactive' } });
  }
}

/** The regular doctor reads each document and finds it by searching the space. */
async function expectDoctorSees(ctx: CheckContext, a: { patientId: string; doctorToken: string }, docs: DocumentReference[], when: string): Promise<void> {
  for (const doc of docs) {
    const res = await readAs(ctx, doc, a.doctorToken);
    ctx.expectStatus(res, 200, `the regular doctor${when} reads the ${labelOf(doc)} document ${doc.id}`);
    ctx.expectEqual(ctx.resource<DocumentReference>(res, 'DocumentReference').id, doc.id, 'id of the document read');
  }
  const ids = await documentIds(ctx, a.patientId, a.doctorToken, 'regular doctor');
  for (const doc of docs) ctx.expect(ids.has(doc.id!), `the regular doctor's search${when} does not return the ${labelOf(doc)} document ${doc.id}`);
}

function labelOf(doc: DocumentReference): string {
  return doc.securityLabel?.[0]?.coding?.[0]?.code ?? 'unlabelled';
}

/** The resource a 201 created: its body, or read back from its Location. */
async function createdResource<T extends Resource>(ctx: CheckContext, res: HttpResponse, type: T['resourceType'], what: string): Promise<T> {
  const body = res.json as T | undefined;
  if (body?.resourceType === type && body.id) return body;
  const loc = ctx.present(parseLocation(res.headers.location), `${what}: 201 without a body or a usable Location header`);
  return readResource<T>(ctx, type, loc.id);
}

export async function invisibleToPatient(ctx: CheckContext, state: SpaceState): Promise<void> {
  const a = requireActors(ctx, ['patientId', 'patientToken']);
  const { plain, hidden } = await state.fixtures(ctx);
  ctx.expectStatus(await readAs(ctx, plain, a.patientToken), 200, 'the patient reads an unlabelled document of their space (control)');
  ctx.expectStatus(await readAs(ctx, hidden, a.patientToken), [403, 404], 'the patient reads a document labelled INVISIBLE_PATIENT written just now');
  const ids = await documentIds(ctx, a.patientId, a.patientToken, 'patient');
  ctx.expect(ids.has(plain.id!), `the patient's search does not return the unlabelled document ${plain.id} (the control)`);
  ctx.expect(!ids.has(hidden.id!), `the patient's search returns the INVISIBLE_PATIENT document ${hidden.id}`);
}

export async function invisibleToRepresentatives(ctx: CheckContext): Promise<void> {
  const a = requireActors(ctx, ['minorId', 'representativeToken']);
  // The minor's own documents, written by the run as a professional-side client.
  const plain = await createResource(ctx, professionalDocument(ctx, a.minorId), 'create an unlabelled DocumentReference in the minor\'s space');
  const hidden = await createResource(ctx, professionalDocument(ctx, a.minorId, 'INVISIBLE_REPRESENTANTS_LEGAUX'), 'create an INVISIBLE_REPRESENTANTS_LEGAUX DocumentReference');
  ctx.expectStatus(await readAs(ctx, plain, a.representativeToken), 200, 'the legal representative reads an unlabelled document of the minor (control)');
  ctx.expectStatus(await readAs(ctx, hidden, a.representativeToken), [403, 404], 'the legal representative reads an INVISIBLE_REPRESENTANTS_LEGAUX document');
  const ids = await documentIds(ctx, a.minorId, a.representativeToken, 'legal representative');
  ctx.expect(ids.has(plain.id!), `the legal representative's search does not return the unlabelled document ${plain.id} (the control)`);
  ctx.expect(!ids.has(hidden.id!), `the legal representative's search returns the INVISIBLE_REPRESENTANTS_LEGAUX document ${hidden.id}`);
}

export async function blockedProfessional(ctx: CheckContext, state: SpaceState): Promise<void> {
  const a = requireActors(ctx, ['patientId', 'professionalToken', 'professionalRef']);
  const { plain } = await state.fixtures(ctx);
  ctx.expectStatus(await readAs(ctx, plain, a.professionalToken), 200, 'the professional reads an unmasked document before being blocked (control)');
  const deny = await createResource<Consent>(ctx, consentFor(ctx, a.patientId, a.professionalRef, 'deny'), 'create the deny Consent naming the professional');
  try {
    ctx.expectStatus(await readAs(ctx, plain, a.professionalToken), 403, 'a blocked professional reads a document of the space');
    const search = await ctx.http.get('DocumentReference', { query: { patient: a.patientId }, auth: as(a.professionalToken) });
    // A search may be refused (403) or answered without anything of the space: either way nothing leaks.
    ctx.expectStatus(search, [200, 403], 'a blocked professional searches the space');
    if (search.status === 200) {
      const found = resourcesOf<DocumentReference>([ctx.resource<Bundle>(search, 'Bundle')], 'DocumentReference');
      ctx.expect(found.length === 0, `a blocked professional's search returns ${found.length} document(s) of the space`);
      ctx.note('the blocked professional\'s search was answered 200 with no document of the space, not 403');
    }
  } finally {
    // Lift the block so the run leaves the professional as it found them.
    await ctx.http.request({ method: 'PUT', path: `Consent/${deny.id}`, body: { ...deny, status: 'inactive' } });
  }
}

/** An access the run made as a known person, which the holder must find in their trail. */
interface KnownAccess {
  /** `the patient`, `the professional`, `the regular doctor`. */
  who: string;
  /** The references that name that person as an AuditEvent agent (`Patient/<id>`, `Practitioner/<id>`). */
  refs: string[];
}

/** How long the kit waits for the accesses to show in the trail: a server may write its AuditEvents shortly after answering. */
const TRAIL_WAIT_MS = 5000;

export async function accessHistory(ctx: CheckContext, state: SpaceState): Promise<void> {
  const a = requireActors(ctx, ['patientId', 'patientToken']);
  const actors = ctx.tokens.spaceActors ?? {};
  // The permit that lets the professional in.
  await state.fixtures(ctx);
  // A document of this check alone: every AuditEvent naming it records an access of this check.
  const doc = await createResource(ctx, professionalDocument(ctx, a.patientId), 'create a DocumentReference for the accesses to look up');
  const accesses: KnownAccess[] = [];
  ctx.expectStatus(await readAs(ctx, doc, a.patientToken), 200, 'the patient reads a document of their space');
  accesses.push({ who: 'the patient', refs: [`Patient/${a.patientId}`] });
  if (actors.professionalToken && actors.professionalRef) {
    ctx.expectStatus(await readAs(ctx, doc, actors.professionalToken), 200, 'the professional, permitted by the patient, reads a document of the space');
    accesses.push({ who: 'the professional', refs: [actors.professionalRef] });
  } else {
    ctx.notChecked('that a professional\'s access shows in the trail: --space-professional-token and --space-professional-ref not given');
  }
  const doctors = actors.doctorToken ? await state.regularDoctors(ctx) : undefined;
  if (actors.doctorToken && doctors?.refs.length) {
    ctx.expectStatus(await readAs(ctx, doc, actors.doctorToken), 200, 'the regular doctor reads a document of the space');
    accesses.push({ who: 'the regular doctor', refs: doctors.refs });
  } else {
    ctx.notChecked(`that the regular doctor's access shows in the trail: ${doctors?.unknown ?? '--space-doctor-token not given'}`);
  }

  const target = `DocumentReference/${doc.id}`;
  let events: AuditEvent[] = [];
  let missing: KnownAccess[] = accesses;
  for (const deadline = Date.now() + TRAIL_WAIT_MS; ;) {
    events = await trailOf(ctx, a.patientId, a.patientToken, target);
    missing = accesses.filter((access) => !events.some((e) => records(e, target, access)));
    if (missing.length === 0 || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const unrecorded = missing.map((m) => `${m.who} (${m.refs.join(' or ')})`).join(', ');
  ctx.expect(missing.length === 0, `the patient's AuditEvents record no read of ${target} by ${unrecorded}, though the run made ${missing.length > 1 ? 'these reads' : 'this read'} (looked for ${TRAIL_WAIT_MS / 1000} s)`);

  const event = events.find((e) => records(e, target, accesses[0]!))!;
  const del = await ctx.http.request({ method: 'DELETE', path: `AuditEvent/${event.id}`, auth: as(a.patientToken) });
  ctx.expectStatus(del, [403, 405], 'the patient deletes an AuditEvent of their space');
  ctx.expectStatus(await ctx.http.get(`AuditEvent/${event.id}`, { auth: as(a.patientToken) }), 200, 'the AuditEvent is still there after the refused delete');
}

/** The AuditEvents the patient finds about that resource (narrowed by `entity` when the server declares it, else every page of theirs). */
async function trailOf(ctx: CheckContext, patientId: string, token: string, target: string): Promise<AuditEvent[]> {
  const byEntity = hasSearchParam(ctx.capabilities, 'AuditEvent', 'entity');
  const query = { patient: patientId, _count: '100', ...(byEntity ? { entity: target } : {}) };
  const res = await ctx.http.get('AuditEvent', { query, auth: as(token) });
  ctx.expectStatus(res, 200, `the patient searches AuditEvent?patient=${patientId}${byEntity ? `&entity=${target}` : ''}`);
  const pages = await allPagesAs(ctx, ctx.resource<Bundle>(res, 'Bundle'), token, 'patient');
  return resourcesOf<AuditEvent>(pages, 'AuditEvent');
}

/** The AuditEvent records that person's access to the resource, and not as a failure. */
function records(event: AuditEvent, target: string, access: KnownAccess): boolean {
  const names = (event.entity ?? []).some((e) => localReference(e.what?.reference) === target);
  const by = (event.agent ?? []).some((g) => access.refs.includes(localReference(g.who?.reference) ?? ''));
  // 4, 8, 12: minor, serious, major failure (R4 audit-event-outcome).
  const failed = event.outcome !== undefined && event.outcome !== '0';
  return names && by && !failed;
}

export async function breakTheGlass(ctx: CheckContext, state: SpaceState): Promise<void> {
  const a = requireActors(ctx, ['patientId', 'professionalToken', 'professionalRef']);
  const { plain } = await state.fixtures(ctx);
  // Without the patient's permits (this run's and any earlier one's), the professional has no
  // access to the space: emergency access is what is left. They are restored afterwards.
  const found = await ctx.http.get('Consent', { query: { patient: a.patientId, actor: a.professionalRef, status: 'active', _count: '100' } });
  ctx.expectStatus(found, 200, `search Consent?patient=${a.patientId}&actor=${a.professionalRef}&status=active`);
  const permits = resourcesOf<Consent>([ctx.resource<Bundle>(found, 'Bundle')], 'Consent').filter((c) => c.provision?.type === 'permit');
  for (const permit of permits) await ctx.http.request({ method: 'PUT', path: `Consent/${permit.id}`, body: { ...permit, status: 'inactive' } });
  let objection: Consent | undefined;
  try {
    const control = await readAs(ctx, plain, a.professionalToken);
    if (control.status === 200) ctx.skip('the professional reaches the space without any permit Consent (care team?): emergency access cannot be exercised');
    ctx.expectStatus(control, [403, 404], 'the professional, no longer permitted, reads a document of the space (control)');
    const reason = unique(ctx, 'emergency');
    const emergency = { [BREAK_THE_GLASS_HEADER]: reason };
    const read = await ctx.http.get(`DocumentReference/${plain.id}`, { auth: as(a.professionalToken), headers: emergency });
    ctx.expectStatus(read, 200, `the professional reads the document with ${BREAK_THE_GLASS_HEADER}`);

    const trail = await ctx.http.get('AuditEvent', { query: { patient: a.patientId, entity: `DocumentReference/${plain.id}`, _count: '100' } });
    ctx.expectStatus(trail, 200, `search AuditEvent?patient=${a.patientId}&entity=DocumentReference/${plain.id}`);
    const btg = resourcesOf<AuditEvent>([ctx.resource<Bundle>(trail, 'Bundle')], 'AuditEvent')
      .filter((e) => (e.purposeOfEvent ?? []).some((p) => (p.coding ?? []).some((c) => c.code === 'BTG')));
    ctx.expect(btg.length > 0, 'no AuditEvent with purpose BTG names the document read in an emergency');

    const found = await ctx.http.get('Communication', { query: { subject: `Patient/${a.patientId}`, _count: '200' } });
    ctx.expectStatus(found, 200, `search Communication?subject=Patient/${a.patientId}`);
    const notices = resourcesOf<Communication>([ctx.resource<Bundle>(found, 'Bundle')], 'Communication').filter((c) =>
      (c.category ?? []).some((k) => (k.coding ?? []).some((x) => x.code === 'emergency-access'))
      && (c.payload ?? []).some((p) => p.contentString?.includes(reason)));
    const toldTo = (refs: string[]): boolean => notices.some((c) => (c.recipient ?? []).some((r) => refs.includes(localReference(r.reference) ?? '')));
    ctx.expect(toldTo([`Patient/${a.patientId}`]), 'the holder was not told of the emergency access (no Communication of category emergency-access to them, with the reason given)');
    const doctors = await state.regularDoctors(ctx);
    if (doctors.refs.length === 0) ctx.notChecked(`that the regular doctor is told of the emergency access: ${doctors.unknown}`);
    else ctx.expect(toldTo(doctors.refs), `the regular doctor (${doctors.refs.join(' or ')}) was not told of the emergency access (no Communication of category emergency-access to them, with the reason given)`);

    objection = await createResource<Consent>(ctx, emergencyObjection(ctx, a.patientId), 'create the patient\'s objection to emergency access (deny, purpose BTG)');
    const refused = await ctx.http.get(`DocumentReference/${plain.id}`, { auth: as(a.professionalToken), headers: emergency });
    ctx.expectStatus(refused, 403, 'emergency access after the patient objected to it');
  } finally {
    // Leave the space as the run found it: objection lifted, the professional permitted again.
    if (objection) await ctx.http.request({ method: 'PUT', path: `Consent/${objection.id}`, body: { ...objection, status: 'inactive' } });
    for (const permit of permits) await ctx.http.request({ method: 'PUT', path: `Consent/${permit.id}`, body: { ...permit, status: 'active' } });
  }
}

/** The OAuth client a JWT access token was issued to (RFC 9068 `client_id`), when the token is a readable JWT. */
function clientOf(token: string): string | undefined {
  try {
    const claim = decodeJwt(token).client_id;
    return typeof claim === 'string' && claim ? claim : undefined;
  } catch {
    return undefined;
  }
}

/** Active permits of the patient naming the app by its client id (README "Who may see what"). */
async function appPermits(ctx: CheckContext, patientId: string, clientId: string): Promise<Consent[]> {
  const res = await ctx.http.get('Consent', { query: { patient: patientId, status: 'active', _count: '200' } });
  ctx.expectStatus(res, 200, `search Consent?patient=${patientId}&status=active`);
  return resourcesOf<Consent>(await allPages(ctx, ctx.resource<Bundle>(res, 'Bundle'), 'the patient\'s active Consents'), 'Consent')
    .filter((c) => c.provision?.type === 'permit' && (c.provision.actor ?? []).some((a) => a.reference?.identifier?.value === clientId));
}

export async function appConsent(ctx: CheckContext, state: SpaceState): Promise<void> {
  const a = requireActors(ctx, ['patientId', 'patientToken']);
  const { plain } = await state.fixtures(ctx);
  const clientId = clientOf(a.patientToken) ?? ctx.skip('the patient token is not a JWT with a client_id claim: the kit cannot tell which app acts for the patient');
  ctx.expectStatus(await readAs(ctx, plain, a.patientToken), 200, `the app ${clientId} reads a document of the space for the patient (control)`);
  const permits = await appPermits(ctx, a.patientId, clientId);
  if (permits.length === 0) ctx.skip(`no active Consent of Patient/${a.patientId} names ${clientId}: the patient token is not a catalogue app's`);
  for (const permit of permits) await ctx.http.request({ method: 'PUT', path: `Consent/${permit.id}`, body: { ...permit, status: 'inactive' } });
  try {
    // A 401 is one of the answers looked for here: the withdrawal may end the app's token.
    ctx.expectStatus(await readAs(ctx, plain, a.patientToken, true), [401, 403], `the app reads the space after the patient withdrew their consent to ${clientId}`);
    const search = await ctx.http.get('DocumentReference', { query: { patient: a.patientId }, auth: as(a.patientToken), refusalExpected: true });
    // Refused, or answered with nothing of the space: either way nothing leaks.
    ctx.expectStatus(search, [200, 401, 403], 'the app searches the space after the withdrawal');
    if (search.status === 200) {
      const found = resourcesOf<DocumentReference>([ctx.resource<Bundle>(search, 'Bundle')], 'DocumentReference');
      ctx.expect(found.length === 0, `the app's search returns ${found.length} document(s) of the space after the patient withdrew their consent`);
    }
  } finally {
    // Consent given again: the check leaves the app as it found it.
    for (const permit of permits) await ctx.http.request({ method: 'PUT', path: `Consent/${permit.id}`, body: { ...permit, status: 'active' } });
  }
}

export async function documentOrigin(ctx: CheckContext): Promise<void> {
  const a = requireActors(ctx, ['patientId', 'patientToken']);
  const unmarked = await ctx.http.request({ method: 'POST', path: 'DocumentReference', body: professionalDocument(ctx, a.patientId), auth: as(a.patientToken) });
  ctx.expect(unmarked.status !== 201 || hasPatientClass(unmarked.json), `the patient's document without class 90 was stored without it (HTTP ${unmarked.status})`);
  const own = await ctx.http.request({ method: 'POST', path: 'DocumentReference', body: patientDocument(ctx, a.patientId), auth: as(a.patientToken), headers: { prefer: 'return=representation' } });
  ctx.expectStatus(own, 201, 'the patient adds a document of class 90 to their space');
  const claim = await ctx.http.request({ method: 'POST', path: 'DocumentReference', body: patientDocument(ctx, a.patientId) });
  ctx.expect(claim.status >= 400 && claim.status < 500, `a professional-side client stored a document claiming the patient's class 90 (HTTP ${claim.status})`);
}

function hasPatientClass(body: unknown): boolean {
  const doc = body as DocumentReference | undefined;
  return (doc?.category ?? []).some((c) => (c.coding ?? []).some((k) => k.system === DOCUMENT_CLASS_SYSTEM && k.code === PATIENT_CLASS));
}

