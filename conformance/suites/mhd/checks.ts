import type { Bundle, DocumentReference, List, Patient } from '@medplum/fhirtypes';
import type { CheckContext } from '../../runner/check-context.js';
import { resolveUrl } from '../../runner/http-client.js';
import type { Check } from '../../runner/suite.js';
import { fixture } from '../../runner/suite.js';
import { judgeEntry } from '../../search/matcher.js';
import { allPages, bundleOf, createResource, FIXTURE_ID_SYSTEM, isOperationOutcome, parseLocation, readResource, resourcesOf, samplePatient } from '../fhir-helpers.js';
import { search } from '../search/run-search.js';
import { provideDocumentBundle, sha1Base64 } from './provide-bundle.js';
import type { ProvideDocument } from './provide-bundle.js';
import { MHD_REQ } from './requirements.js';

export interface Submitted {
  patient: Patient;
  doc: ProvideDocument;
  response: Bundle;
  documentReference: DocumentReference;
  submissionSet: List;
}

export interface MhdState {
  patient: (ctx: CheckContext) => Promise<Patient>;
  submitted: (ctx: CheckContext) => Promise<Submitted>;
}

export type MhdActor = 'DocumentRecipient' | 'DocumentResponder';

/**
 * MHD is a claim, not a side effect of supporting transactions: the server
 * must say it implements the actor (CapabilityStatement.instantiates or
 * implementationGuide naming the MHD profile) before its MHD rules are judged.
 */
function requireMhd(ctx: CheckContext, actor: MhdActor = 'DocumentRecipient'): void {
  const cs = ctx.capabilities;
  const claims = [...(cs?.instantiates ?? []), ...(cs?.implementationGuide ?? []), ...(cs?.imports ?? [])];
  const claimed = claims.some((u) => u.includes('profiles.ihe.net/ITI/MHD') && (u.includes(`IHE.MHD.${actor}`) || !u.includes('CapabilityStatement')));
  if (!claimed) ctx.skip(`the CapabilityStatement does not claim the IHE MHD ${actor} actor (instantiates https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.${actor})`);
  if (actor === 'DocumentRecipient') ctx.requireSystemInteraction('transaction');
  for (const type of ['DocumentReference', 'List', 'Binary']) ctx.requireResource(type);
}

async function provide(ctx: CheckContext, doc: ProvideDocument) {
  return ctx.http.request({ method: 'POST', path: '', body: doc.bundle });
}

export function createMhdState(): MhdState {
  const patient = fixture((ctx) => createResource(ctx, samplePatient(ctx)));
  return {
    patient,
    submitted: fixture(async (ctx) => {
      const p = await patient(ctx);
      const doc = provideDocumentBundle(ctx, `Patient/${p.id}`);
      const res = await provide(ctx, doc);
      ctx.expectStatus(res, 200, 'ITI-65 Provide Document Bundle');
      const response = bundleOf(ctx, res, 'transaction-response', 'ITI-65 response');
      const locations = (response.entry ?? []).map((e) => parseLocation(e.response?.location));
      const drLoc = ctx.present(locations.find((l) => l?.type === 'DocumentReference'), 'no DocumentReference location in the ITI-65 response');
      const ssLoc = ctx.present(locations.find((l) => l?.type === 'List'), 'no List location in the ITI-65 response');
      const documentReference = await readResource<DocumentReference>(ctx, 'DocumentReference', drLoc.id);
      const submissionSet = await readResource<List>(ctx, 'List', ssLoc.id);
      return { patient: p, doc, response, documentReference, submissionSet };
    }),
  };
}

/**
 * The stored DocumentReferences carrying that unique id (masterIdentifier), found by
 * `identifier=` (R4: masterIdentifier or identifier) and judged by the kit's own
 * matcher, every page read: what the server returns that does not carry it is not counted.
 */
async function storedWithUniqueId(ctx: CheckContext, uniqueId: string): Promise<DocumentReference[]> {
  const params: [string, string][] = [['identifier', `urn:ietf:rfc:3986|${uniqueId}`]];
  const what = `GET DocumentReference?identifier=urn:ietf:rfc:3986|${uniqueId}`;
  const res = await ctx.http.get('DocumentReference', { query: Object.fromEntries(params) });
  ctx.expectStatus(res, 200, what);
  const pages = await allPages(ctx, ctx.resource<Bundle>(res, 'Bundle', what), what);
  return resourcesOf<DocumentReference>(pages, 'DocumentReference').filter((r) => judgeEntry('DocumentReference', r, params).kind === 'match');
}

/**
 * An empty answer proves nothing stored only if the same query finds a document known
 * to be stored: the accepted submission's DocumentReference, by its unique id.
 */
async function expectSearchFindsStored(ctx: CheckContext, state: MhdState): Promise<void> {
  const s = await state.submitted(ctx);
  const found = await storedWithUniqueId(ctx, s.doc.uniqueId);
  if (!found.some((d) => d.id === s.documentReference.id)) {
    ctx.fail(`cannot tell whether the refused submission left anything: DocumentReference?identifier=urn:ietf:rfc:3986|${s.doc.uniqueId} does not find DocumentReference/${s.documentReference.id}, stored with that masterIdentifier by the accepted submission (mhd.iti65.accepted), so an empty answer proves nothing (R4: identifier searches masterIdentifier too)`);
  }
}

const NEGATIVES: { id: string; title: string; build: (ctx: CheckContext, patientRef: string) => ProvideDocument; severity?: 'warning' }[] = [
  { id: 'no-submission-set', title: 'a bundle without a SubmissionSet', build: (ctx, p) => provideDocumentBundle(ctx, p, { withSubmissionSet: false }) },
  { id: 'dangling-attachment', title: 'an attachment url naming no entry of the bundle', build: (ctx, p) => provideDocumentBundle(ctx, p, { binaryUrl: 'urn:uuid:00000000-0000-4000-8000-000000000000' }) },
  { id: 'wrong-hash', title: 'an attachment hash that does not match the bytes', severity: 'warning', build: (ctx, p) => provideDocumentBundle(ctx, p, { hash: sha1Base64(Buffer.from('other bytes')) }) },
  { id: 'wrong-size', title: 'an attachment size that does not match the bytes', severity: 'warning', build: (ctx, p) => provideDocumentBundle(ctx, p, { size: 3 }) },
];

export const mhdChecks: Check<MhdState>[] = [
  {
    id: 'mhd.iti65.accepted',
    title: 'ITI-65: a valid Provide Document Bundle is accepted, one 201 per entry in order',
    requirement: MHD_REQ.iti65,
    async run(ctx, state) {
      requireMhd(ctx);
      const s = await state.submitted(ctx);
      const sent = s.doc.bundle.entry ?? [];
      const got = s.response.entry ?? [];
      ctx.expectEqual(got.length, sent.length, 'response entries');
      got.forEach((e, i) => {
        ctx.expect(e.response?.status?.startsWith('201'), `entry ${i + 1}: expected status 201 Created, got ${e.response?.status === undefined ? 'none' : JSON.stringify(e.response.status)}`);
        const loc = parseLocation(e.response?.location);
        ctx.expectEqual(loc?.type, sent[i]?.request?.url, `entry ${i + 1}: type named by location`);
      });
      ctx.expectEqual(s.documentReference.masterIdentifier?.value, s.doc.uniqueId, 'stored masterIdentifier');
      ctx.expectEqual(s.documentReference.subject?.reference, `Patient/${s.patient.id}`, 'stored subject');
      const ssItem = s.submissionSet.entry?.[0]?.item?.reference;
      ctx.expectEqual(ssItem, `DocumentReference/${s.documentReference.id}`, 'SubmissionSet entry rewritten to the stored DocumentReference');
    },
  },
  ...NEGATIVES.map(
    (n): Check<MhdState> => ({
      id: `mhd.iti65.rejects-${n.id}`,
      title: `ITI-65: ${n.title} is refused and nothing is stored`,
      requirement: n.id.startsWith('wrong-') ? MHD_REQ.iti65Hash : MHD_REQ.iti65Rejected,
      severity: n.severity,
      async run(ctx, state) {
        requireMhd(ctx);
        ctx.requireSearchParam('DocumentReference', 'identifier');
        const p = await state.patient(ctx);
        const doc = n.build(ctx, `Patient/${p.id}`);
        const res = await provide(ctx, doc);
        ctx.expect(res.status >= 400 && res.status < 500, `${n.title}: expected a 4xx, got ${res.status}`);
        ctx.expect(isOperationOutcome(res.json), `${n.title}: the refusal carries no OperationOutcome`);
        await expectSearchFindsStored(ctx, state);
        const left = await storedWithUniqueId(ctx, doc.uniqueId);
        ctx.expect(left.length === 0, `the refused submission left ${left.length} DocumentReference(s) with its unique id ${doc.uniqueId}: ${left.map((d) => `DocumentReference/${d.id}`).join(', ')}`);
      },
    }),
  ),
  {
    id: 'mhd.iti67.by-patient',
    title: 'ITI-67: DocumentReference?patient=&status=current finds the document',
    requirement: MHD_REQ.iti67,
    async run(ctx, state) {
      requireMhd(ctx, 'DocumentResponder');
      requireMhd(ctx, 'DocumentRecipient');
      ctx.requireSearchParam('DocumentReference', 'patient');
      ctx.requireSearchParam('DocumentReference', 'status');
      const s = await state.submitted(ctx);
      const { matches } = await search(ctx, 'DocumentReference', [['patient', `Patient/${s.patient.id}`], ['status', 'current']]);
      ctx.expect(matches.some((r) => r.id === s.documentReference.id), `DocumentReference/${s.documentReference.id} not found`);
    },
  },
  {
    id: 'mhd.iti67.by-patient-identifier',
    title: 'ITI-67: DocumentReference?patient.identifier=system|value finds the document',
    requirement: MHD_REQ.iti67,
    async run(ctx, state) {
      requireMhd(ctx, 'DocumentResponder');
      requireMhd(ctx, 'DocumentRecipient');
      ctx.requireSearchParam('DocumentReference', 'patient');
      const s = await state.submitted(ctx);
      const ins = s.patient.identifier?.find((i) => i.system === FIXTURE_ID_SYSTEM)?.value;
      const { matches } = await search(ctx, 'DocumentReference', [['patient.identifier', `${FIXTURE_ID_SYSTEM}|${ins}`], ['status', 'current']]);
      ctx.expect(matches.some((r) => r.id === s.documentReference.id), `DocumentReference/${s.documentReference.id} not found by patient.identifier`);
      ctx.expect(matches.every((r) => (r as DocumentReference).subject?.reference === `Patient/${s.patient.id}`), 'documents of another patient returned');
    },
  },
  {
    id: 'mhd.iti66.submission-set',
    title: 'ITI-66: List?patient=&code=submissionset finds the SubmissionSet',
    requirement: MHD_REQ.iti66,
    async run(ctx, state) {
      requireMhd(ctx, 'DocumentResponder');
      requireMhd(ctx, 'DocumentRecipient');
      ctx.requireSearchParam('List', 'patient');
      ctx.requireSearchParam('List', 'code');
      const s = await state.submitted(ctx);
      const { matches } = await search(ctx, 'List', [['patient', `Patient/${s.patient.id}`], ['code', 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset']]);
      ctx.expect(matches.some((r) => r.id === s.submissionSet.id), `List/${s.submissionSet.id} not found`);
    },
  },
  {
    id: 'mhd.iti68.bytes',
    title: 'ITI-68: the attachment url returns the document byte for byte',
    requirement: MHD_REQ.iti68,
    async run(ctx, state) {
      requireMhd(ctx, 'DocumentResponder');
      requireMhd(ctx, 'DocumentRecipient');
      const s = await state.submitted(ctx);
      const url = ctx.present(s.documentReference.content?.[0]?.attachment?.url, 'stored DocumentReference has no attachment.url');
      ctx.expect(!url.startsWith('urn:'), `attachment.url was not rewritten to the stored Binary: ${url}`);
      // MHD lets the document live elsewhere, but the run's token goes to the server under test only.
      if (!ctx.http.isUnderBase(resolveUrl(ctx.base, url))) {
        ctx.skip(`attachment.url ${url} is outside the FHIR base ${ctx.base}: the kit sends its token to no other host, so the document was not retrieved`);
      }
      const res = await ctx.http.get(url, { headers: { accept: s.doc.contentType } });
      ctx.expectStatus(res, 200, `GET ${url}`);
      ctx.expect((res.headers['content-type'] ?? '').startsWith(s.doc.contentType), `Content-Type: expected ${s.doc.contentType}, got ${res.headers['content-type']}`);
      ctx.expectEqual(res.bytes.length, s.doc.bytes.length, 'document length');
      ctx.expect(res.bytes.equals(s.doc.bytes), 'the retrieved bytes differ from the submitted ones');
    },
  },
  {
    id: 'mhd.iti68.unknown',
    title: 'ITI-68: an unknown document gives 404',
    requirement: MHD_REQ.iti68,
    async run(ctx) {
      requireMhd(ctx, 'DocumentResponder');
      const res = await ctx.http.get(`Binary/unknown-${ctx.runId}-0000`, { headers: { accept: 'application/pdf' } });
      ctx.expectStatus(res, 404, 'GET of an unknown Binary');
    },
  },
];
