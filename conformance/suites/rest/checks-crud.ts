import type { CapabilityStatement, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { resourceCapability } from '../../runner/capabilities.js';
import type { CheckContext } from '../../runner/check-context.js';
import type { Check } from '../../runner/suite.js';
import { fixture } from '../../runner/suite.js';
import { createResource, etagVersion, isFhirJson, isOperationOutcome, parseLocation, samplePatient, versionIdOf } from '../fhir-helpers.js';
import { REST } from './requirements.js';

export interface RestState {
  /** A Patient created once and never changed by any check. */
  patient: (ctx: CheckContext) => Promise<Patient>;
}

export function createRestState(): RestState {
  return {
    patient: fixture((ctx) => {
      ctx.requireInteraction('Patient', 'create');
      return createResource(ctx, samplePatient(ctx));
    }),
  };
}

async function readablePatient(ctx: CheckContext, state: RestState): Promise<Patient> {
  ctx.requireInteraction('Patient', 'read');
  ctx.requireInteraction('Patient', 'create');
  return state.patient(ctx);
}

/** Why a create's Location header cannot be used: missing, or not naming [base]/Type/id. */
function locationProblem(location: string | undefined): string {
  return location === undefined ? 'no Location header on the 201' : `Location: expected [base]/Patient/[id]/_history/[vid], got ${JSON.stringify(location)}`;
}

export const crudChecks: Check<RestState>[] = [
  {
    id: 'rest.capabilities.metadata',
    title: 'GET metadata without a token returns an R4 CapabilityStatement',
    requirement: REST.capabilities,
    async run(ctx) {
      const res = await ctx.http.get('metadata', { auth: 'none' });
      ctx.expectStatus(res, 200, 'GET metadata');
      const cs = ctx.resource<CapabilityStatement>(res, 'CapabilityStatement');
      ctx.expect(cs.fhirVersion?.startsWith('4.0'), `fhirVersion: expected 4.0.x, got ${cs.fhirVersion}`);
      ctx.expect(cs.rest?.some((r) => r.mode === 'server'), 'no rest element with mode "server"');
      ctx.expect(cs.format?.some((f) => /json/.test(f)), `format does not list json: ${JSON.stringify(cs.format)}`);
      ctx.expect(cs.status && cs.kind && cs.date, 'status, kind and date are required elements');
      ctx.expect(isFhirJson(res.headers['content-type']), `Content-Type: expected application/fhir+json, got ${res.headers['content-type']}`);
    },
  },
  {
    id: 'rest.read.current',
    title: 'read returns the resource with its id and versionId',
    requirement: REST.read,
    async run(ctx, state) {
      const created = await readablePatient(ctx, state);
      const res = await ctx.http.get(`Patient/${created.id}`);
      ctx.expectStatus(res, 200, 'read');
      const p = ctx.resource<Patient>(res, 'Patient');
      ctx.expectEqual(p.id, created.id, 'id');
      ctx.expectEqual(p.name?.[0]?.family, created.name?.[0]?.family, 'name.family');
      versionIdOf(ctx, p, 'read');
      ctx.expect(isFhirJson(res.headers['content-type']), `Content-Type: expected application/fhir+json, got ${res.headers['content-type']}`);
    },
  },
  {
    id: 'rest.read.etag',
    title: 'read answers an ETag W/"versionId" matching meta.versionId',
    requirement: REST.versioning,
    async run(ctx, state) {
      const created = await readablePatient(ctx, state);
      const res = await ctx.http.get(`Patient/${created.id}`);
      ctx.expectStatus(res, 200, 'read');
      const p = ctx.resource<Patient>(res, 'Patient');
      const etag = res.headers.etag;
      ctx.expect(etag, 'no ETag header on read');
      ctx.expect(/^W\/"[^"]+"$/.test(etag), `ETag is not a weak ETag W/"versionId": ${etag}`);
      ctx.expectEqual(etagVersion(etag), versionIdOf(ctx, p, 'read'), 'ETag version vs meta.versionId');
    },
  },
  {
    id: 'rest.read.last-modified',
    title: 'read answers a Last-Modified header',
    requirement: REST.read,
    severity: 'warning',
    async run(ctx, state) {
      const created = await readablePatient(ctx, state);
      const res = await ctx.http.get(`Patient/${created.id}`);
      ctx.expectStatus(res, 200, 'read');
      const lm = res.headers['last-modified'];
      ctx.expect(lm, 'no Last-Modified header on the read');
      ctx.expect(!Number.isNaN(Date.parse(lm!)), `Last-Modified: expected an HTTP date, got ${JSON.stringify(lm)}`);
    },
  },
  {
    id: 'rest.read.unknown',
    title: 'read of an unknown id returns 404 with an OperationOutcome',
    requirement: REST.readUnknown,
    async run(ctx) {
      ctx.requireInteraction('Patient', 'read');
      const res = await ctx.http.get(`Patient/unknown-${ctx.runId}-0000`);
      ctx.expectStatus(res, 404, 'read of an unknown Patient');
      ctx.expect(isOperationOutcome(res.json), 'the 404 carries no OperationOutcome');
    },
  },
  {
    id: 'rest.create.location',
    title: 'create returns 201 with Location [base]/Type/id/_history/vid and an ETag',
    requirement: REST.create,
    async run(ctx) {
      ctx.requireInteraction('Patient', 'create');
      const res = await ctx.http.request({ method: 'POST', path: 'Patient', body: samplePatient(ctx) });
      ctx.expectStatus(res, 201, 'create');
      const loc = ctx.present(parseLocation(res.headers.location), locationProblem(res.headers.location));
      ctx.expectEqual(loc.type, 'Patient', 'type named by Location');
      ctx.expect(loc.versionId, `Location has no _history/[vid]: ${res.headers.location}`);
      // An absolute Location must be on this server: [base]/Patient/[id]/_history/[vid] (http.html#create).
      const location = String(res.headers.location);
      ctx.expect(!/^[a-z][a-z0-9+.-]*:/i.test(location) || location.startsWith(`${ctx.base}/`), `Location is not under the server's base ${ctx.base}: ${location}`);
      ctx.expect(res.headers.etag, 'no ETag header on create');
      ctx.expectEqual(etagVersion(res.headers.etag), loc.versionId, 'ETag version vs Location version');
    },
  },
  {
    id: 'rest.create.ignores-id',
    title: 'create ignores an id given in the body',
    requirement: REST.create,
    async run(ctx) {
      ctx.requireInteraction('Patient', 'create');
      const proposed = `client-chosen-${ctx.runId}`;
      const res = await ctx.http.request({ method: 'POST', path: 'Patient', body: { ...samplePatient(ctx), id: proposed } });
      // Rejecting the request is also acceptable to some servers; accepting it with the client's id is not.
      if (res.status === 400 || res.status === 422) {
        ctx.note(`server refused a create with an id (${res.status})`);
        return;
      }
      ctx.expectStatus(res, 201, 'create with an id in the body');
      const loc = ctx.present(parseLocation(res.headers.location), locationProblem(res.headers.location));
      ctx.expect(loc.id !== proposed, 'the server kept the id given by the client');
    },
  },
  {
    id: 'rest.update.new-version',
    title: 'update creates a new version with a new versionId and ETag',
    requirement: REST.update,
    async run(ctx) {
      ctx.requireInteraction('Patient', 'create');
      ctx.requireInteraction('Patient', 'update');
      const p = await createResource(ctx, samplePatient(ctx));
      const v1 = versionIdOf(ctx, p, 'create');
      const res = await ctx.http.request({ method: 'PUT', path: `Patient/${p.id}`, body: { ...p, gender: 'other' }, headers: { prefer: 'return=representation' } });
      ctx.expectStatus(res, 200, 'update');
      const v2 = etagVersion(res.headers.etag);
      ctx.expect(v2, 'no ETag on the update response');
      ctx.expect(v2 !== v1, `the ETag still names version ${v2}`);
      const read = await ctx.http.get(`Patient/${p.id}`);
      ctx.expectStatus(read, 200, 'read after update');
      const after = ctx.resource<Patient>(read, 'Patient');
      ctx.expectEqual(after.gender, 'other', 'gender after update');
      ctx.expectEqual(versionIdOf(ctx, after, 'read after update'), v2, 'meta.versionId after update vs update ETag');
    },
  },
  {
    id: 'rest.vread.versions',
    title: 'vread returns each version as it was',
    requirement: REST.vread,
    async run(ctx) {
      ctx.requireInteraction('Patient', 'create');
      ctx.requireInteraction('Patient', 'update');
      ctx.requireInteraction('Patient', 'vread');
      const p = await createResource(ctx, samplePatient(ctx));
      const version1 = versionIdOf(ctx, p, 'create');
      const upd = await ctx.http.request({ method: 'PUT', path: `Patient/${p.id}`, body: { ...p, gender: 'male' } });
      ctx.expectStatus(upd, 200, 'update');
      const v1 = await ctx.http.get(`Patient/${p.id}/_history/${version1}`);
      ctx.expectStatus(v1, 200, 'vread of version 1');
      ctx.expectEqual(ctx.resource<Patient>(v1, 'Patient').gender, 'female', 'gender in version 1');
      ctx.expectEqual(etagVersion(v1.headers.etag), version1, 'ETag of version 1');
      const unknown = await ctx.http.get(`Patient/${p.id}/_history/999999`);
      ctx.expectStatus(unknown, 404, 'vread of a version that does not exist');
    },
  },
  {
    id: 'rest.update.if-match-stale',
    title: 'update with a stale If-Match returns 412 and changes nothing',
    requirement: REST.concurrency,
    async run(ctx) {
      ctx.requireInteraction('Patient', 'update');
      ctx.requireInteraction('Patient', 'create');
      const versioning = resourceCapability(ctx.capabilities, 'Patient')?.versioning;
      if (versioning !== 'versioned-update') ctx.skip(`not declared in the CapabilityStatement: Patient versioning 'versioned-update' (found ${versioning ?? 'none'})`);
      const p = await createResource(ctx, samplePatient(ctx));
      const ifMatch = `W/"${versionIdOf(ctx, p, 'create')}"`;
      const first = await ctx.http.request({ method: 'PUT', path: `Patient/${p.id}`, body: { ...p, gender: 'male' }, headers: { 'if-match': ifMatch } });
      ctx.expectStatus(first, 200, 'update with the current If-Match');
      const stale = await ctx.http.request({ method: 'PUT', path: `Patient/${p.id}`, body: { ...p, gender: 'other' }, headers: { 'if-match': ifMatch } });
      ctx.expectStatus(stale, 412, 'update with a stale If-Match');
      const read = await ctx.http.get(`Patient/${p.id}`);
      ctx.expectStatus(read, 200, 'read after the refused update');
      ctx.expectEqual(ctx.resource<Patient>(read, 'Patient').gender, 'male', 'gender after the refused update');
    },
  },
  {
    id: 'rest.delete.gone',
    title: 'delete answers 200/204, then read answers 410 Gone (404 where deletions are not tracked)',
    requirement: REST.readDeleted,
    async run(ctx) {
      ctx.requireInteraction('Patient', 'create');
      ctx.requireInteraction('Patient', 'delete');
      ctx.requireInteraction('Patient', 'read');
      const p = await createResource(ctx, samplePatient(ctx));
      const del = await ctx.http.request({ method: 'DELETE', path: `Patient/${p.id}` });
      ctx.expectStatus(del, [200, 202, 204], 'delete');
      const read = await ctx.http.get(`Patient/${p.id}`);
      // R4 lets a server that does not track deleted resources treat them as unknown (404); never as still there.
      ctx.expectStatus(read, [410, 404], 'read after delete');
      ctx.expect(isOperationOutcome(read.json), `the ${read.status} carries no OperationOutcome`);
      if (read.status === 404) {
        ctx.note('read after delete answered 404: allowed for a server that does not track deleted resources; a server that keeps their history should answer 410 Gone');
      }
    },
  },
  {
    id: 'rest.delete.unknown',
    title: 'delete of an unknown id does not fail with a server error',
    requirement: REST.delete,
    severity: 'warning',
    async run(ctx) {
      ctx.requireInteraction('Patient', 'delete');
      const del = await ctx.http.request({ method: 'DELETE', path: `Patient/unknown-${ctx.runId}-0000` });
      ctx.expectStatus(del, [200, 204, 404], 'delete of an unknown Patient');
    },
  },
  {
    id: 'rest.prefer.minimal',
    title: 'Prefer: return=minimal gives 201 and no body',
    requirement: REST.prefer,
    severity: 'warning',
    async run(ctx) {
      ctx.requireInteraction('Patient', 'create');
      const res = await ctx.http.request({ method: 'POST', path: 'Patient', body: samplePatient(ctx), headers: { prefer: 'return=minimal' } });
      ctx.expectStatus(res, 201, 'create with return=minimal');
      ctx.expect(res.text.trim() === '', `expected no body, got ${res.text.slice(0, 100)}`);
      ctx.expect(parseLocation(res.headers.location), 'no Location header');
    },
  },
  {
    id: 'rest.prefer.representation',
    title: 'Prefer: return=representation gives the created resource',
    requirement: REST.prefer,
    severity: 'warning',
    async run(ctx) {
      ctx.requireInteraction('Patient', 'create');
      const sent = samplePatient(ctx);
      const res = await ctx.http.request({ method: 'POST', path: 'Patient', body: sent, headers: { prefer: 'return=representation' } });
      ctx.expectStatus(res, 201, 'create with return=representation');
      const p = ctx.resource<Patient>(res, 'Patient');
      ctx.expect(p.id, 'the representation has no id');
      ctx.expectEqual(p.name?.[0]?.family, sent.name?.[0]?.family, 'name.family');
    },
  },
  {
    id: 'rest.prefer.operation-outcome',
    title: 'Prefer: return=OperationOutcome gives an OperationOutcome',
    requirement: REST.prefer,
    severity: 'warning',
    async run(ctx) {
      ctx.requireInteraction('Patient', 'create');
      const res = await ctx.http.request({ method: 'POST', path: 'Patient', body: samplePatient(ctx), headers: { prefer: 'return=OperationOutcome' } });
      ctx.expectStatus(res, 201, 'create with return=OperationOutcome');
      ctx.resource<OperationOutcome>(res, 'OperationOutcome');
    },
  },
];
