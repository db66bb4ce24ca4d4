import type { FastifyRequest } from 'fastify';
import type { Binary, OperationOutcomeIssue, Resource, Subscription } from '@medplum/fhirtypes';
import { BadRequestError, FhirError, PayloadTooLargeError, ValidationError } from '../../errors.js';
import { authorize, principalOf } from '../../access/guard.js';
import { refuseChangeOverHidden } from '../../access/hidden-references.js';
import { isBase64Binary } from '../../fhir/validation/base64.js';
import type { Validator } from '../../fhir/validation/validate.js';
import { authorizeBinary } from '../../space/documents/binary-access.js';
import { checkContentWrite, refuseDeletingUsedContent } from '../../space/documents/document-content.js';
import { applyWriteRules } from '../../space/documents/document-hook.js';
import { isPatientSide } from '../../space/documents/document-rules.js';
import { acceptSubscription, compileCriteria } from '../../space/subscriptions/criteria.js';
import type { VersionRecord } from '../../store/engine.js';
import { checkTypeAndId, storedForm } from '../../store/repository.js';
import { auditEventsAreImmutable } from '../resource.js';
import { checkSubscriptionOwner } from '../subscriptions.js';

/*
 * The modes of $validate (resource-operation-validate): `create`, `update`
 * and `delete` ask whether that write, by the caller, would be accepted. The
 * answer runs the write's own checks, in the order its route runs them
 * (routes/resource.ts, routes/binary.ts, routes/subscriptions.ts): the
 * policy, the space's write rules (applyWriteRules), what the repository
 * refuses before storing (SUBSETTED, the server's audit tag, validation of
 * the version as it would be stored, meta replaced), the policy's word on the
 * new version, and the documents' content rules. It stops at the first
 * refusal, as the write does, and reports it as an error issue with the
 * write's code; validation issues are all reported. Nothing is committed, no
 * blob is stored, no turn or lease is taken, no owner is claimed.
 *
 * What the caller may not read stays theirs not to know: update and delete
 * of an existing resource first ask the policy as a read of it would, and
 * answer its refusal (403, or 410 for a document's bytes whose document is
 * gone) as a read does, before anything compares the body with it. Every
 * decision goes through `authorize`, as a precheck: an allowed decision is
 * not audited (nothing was read or written: as a $validate without a mode,
 * which audits nothing), a refusal is, as every refusal is, under the
 * interaction `operation`; no emergency notification is sent.
 */

export type WriteMode = 'create' | 'update' | 'delete';

export interface ModeInput {
  type: string;
  /** The instance id of the URL ([type]/[id]/$validate). */
  id?: string;
  mode: WriteMode;
  /** The resource given (a delete needs none). */
  resource?: unknown;
  profiles: string[];
  /** The body was refused before any rule (type or id of the URL): the write would be a 400 already, its rules are not run. */
  bodyRefused: boolean;
}

export interface ModeAnswer {
  issues: OperationOutcomeIssue[];
  /** What the answer says when no issue is an error. */
  accepted: string;
}

/** How the decisions of a rehearsal are named in the audit trail (restful-interaction `operation`). */
const INTERACTION = 'operation';

/** Answers whether the write `input.mode` stands for, by the caller of `request`, would be accepted. */
export async function rehearseWrite(request: FastifyRequest, validator: Validator, input: ModeInput): Promise<ModeAnswer> {
  if (input.mode === 'delete') return rehearseDelete(request, input);
  if (input.mode === 'create') return rehearseCreate(request, validator, input);
  return rehearseUpdate(request, validator, input);
}

/** What the write would store before its checks: each step throws the write's refusal. */
interface WriteSteps {
  /** The policy before the rules (the type, the current version). */
  access(): Promise<unknown>;
  /** The space's rules on the body: what would be stored (before the server's meta). */
  rules(): Resource | Promise<Resource>;
  /** The repository's preparation of the version, the policy's word on it and the content rules. */
  commit(ruled: Resource): Promise<unknown>;
}

async function rehearseCreate(request: FastifyRequest, validator: Validator, input: ModeInput): Promise<ModeAnswer> {
  const { type } = input;
  const { repository } = request.server;
  const accepted = `All OK: a create of this ${type} by you would be accepted (access, write rules and content checked; nothing was written)`;
  const body = input.resource as Resource;
  const steps: WriteSteps = type === 'Binary'
    ? {
      // routes/binary.ts POST: the policy, then the bytes (stored apart: the version holds no `data`).
      access: () => authorize(request, 'c', INTERACTION, { resourceType: type }, { precheck: true }),
      rules: () => {
        const { id: _ignored, ...rest } = binaryWithoutData(request, body as Binary);
        return rest as Resource;
      },
      commit: async (ruled) => {
        const prepared = await repository.prepareCreate(ruled);
        await judgeVersion(request, 'c', prepared.op!.record);
      },
    }
    : type === 'Subscription'
      ? subscriptionSteps(request, body as Subscription, undefined, undefined)
      : {
        // routes/resource.ts POST: a client id is ignored (http.html#create).
        access: () => authorize(request, 'c', INTERACTION, { resourceType: type }, { precheck: true }),
        rules: () => {
          const { id: _ignored, ...withoutId } = body;
          return applyWriteRules(request, type, { method: 'POST', next: withoutId as Resource })!;
        },
        commit: async (ruled) => {
          const { record } = (await repository.prepareCreate(ruled)).op!;
          await judgeVersion(request, 'c', record);
          await contentRules(request, record);
        },
      };
  return { issues: await rehearse(request, validator, input, steps, repository.newResourceId(), undefined), accepted };
}

async function rehearseUpdate(request: FastifyRequest, validator: Validator, input: ModeInput): Promise<ModeAnswer> {
  const { type } = input;
  const { repository } = request.server;
  const body = input.resource as Resource;
  const id = targetId(input);
  if (id === undefined) {
    // No resource to compare with: a PUT names one (validate.ts reported an id that is absent; one that is no string is said here).
    const issues = validator.validateResource(body, { mode: 'update', profiles: input.profiles });
    if (!input.bodyRefused) issues.unshift(new BadRequestError('FHIR_ERR_REST_ID_MISSING', 'An update names the resource: its id, in the URL or the resource', { expression: [`${type}.id`] }).toOperationOutcome().issue[0]!);
    return { issues, accepted: '' };
  }
  const current = await readAsARead(request, type, id);
  const live = current && !current.deleted ? current : undefined;
  const accepted = live
    ? `All OK: an update of ${type}/${id} by you would be accepted (access, write rules and content checked against its current version; nothing was written)`
    : `All OK: ${type}/${id} is not present, and a PUT of it by you would create it (access, write rules and content checked; nothing was written)`;
  let steps: WriteSteps;
  if (type === 'Binary') {
    // routes/binary.ts PUT: the policy on the version replaced, then the bytes, then the content rules on them.
    let bytes = Buffer.alloc(0);
    steps = {
      access: async () => {
        await authorize(request, 'u', INTERACTION, { resourceType: type, id }, { precheck: true });
        if (live) await authorizeBinary(request, 'u', 'update', live, { audit: false });
      },
      rules: () => {
        if ((body as Binary).id !== id) throw new BadRequestError('FHIR_ERR_REST_ID_MISMATCH', `Body id ${String((body as Binary).id)} does not match the URL id ${id}`);
        const rest = binaryWithoutData(request, body as Binary);
        bytes = Buffer.from(typeof (body as Binary).data === 'string' ? (body as Binary).data! : '', 'base64');
        return rest as Resource;
      },
      commit: async (ruled) => {
        const prepared = await repository.prepareUpdate(type, id, ruled, { method: 'PUT', keepUnchanged: true });
        const record = prepared.unchanged ?? prepared.op!.record;
        await judgeVersion(request, live ? 'u' : 'c', record);
        await contentRules(request, record, bytes);
      },
    };
  } else if (type === 'Subscription') {
    steps = subscriptionSteps(request, body as Subscription, id, live);
  } else {
    // routes/resource.ts PUT.
    steps = {
      access: async () => {
        await authorize(request, 'u', INTERACTION, { resourceType: type, id }, { precheck: true });
        if (type === 'AuditEvent') throw auditEventsAreImmutable();
        if (live) {
          await authorize(request, 'u', INTERACTION, { resourceType: type, id, record: live }, { precheck: true });
          await refuseChangeOverHidden(request, live, 'update');
        }
      },
      rules: () => applyWriteRules(request, type, { method: 'PUT', next: body, current })!,
      commit: async (ruled) => {
        const prepared = await repository.prepareUpdate(type, id, ruled, { method: 'PUT', keepUnchanged: true });
        const record = prepared.unchanged ?? prepared.op!.record;
        await judgeVersion(request, live ? 'u' : 'c', record);
        await contentRules(request, record);
      },
    };
  }
  return { issues: await rehearse(request, validator, input, steps, id, live), accepted };
}

async function rehearseDelete(request: FastifyRequest, input: ModeInput): Promise<ModeAnswer> {
  const { type } = input;
  const id = targetId(input);
  if (id === undefined) {
    throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', `mode=delete asks about one ${type}: POST [base]/${type}/[id]/$validate (or a resource parameter with its id)`);
  }
  const current = await readAsARead(request, type, id);
  const live = current && !current.deleted ? current : undefined;
  // routes/resource.ts DELETE, up to what repository.delete would commit.
  const refused = await refusalOf(async () => {
    await authorize(request, 'd', INTERACTION, { resourceType: type, id }, { precheck: true });
    if (type === 'AuditEvent') throw auditEventsAreImmutable();
    await authorize(request, 'd', INTERACTION, { resourceType: type, id, ...(live ? { record: live } : { compartments: [] }) }, { precheck: true });
    if (live) await refuseChangeOverHidden(request, live, 'delete');
    applyWriteRules(request, type, { method: 'DELETE', current });
    if (live) await refuseDeletingUsedContent(request, live);
  });
  return {
    issues: refused ? refused.toOperationOutcome().issue : [],
    accepted: live
      ? `All OK: nothing prevents you from deleting ${type}/${id} (access, write rules and the documents using it checked; nothing was deleted)`
      : `All OK: ${type}/${id} is not present (or already deleted): a DELETE by you would change nothing`,
  };
}

/**
 * Runs `steps` until the first refusal, and validates what would be stored:
 * the resource as the rules leave it (or as sent, when they refuse it), with
 * the server's meta.versionId and meta.lastUpdated, as repository.ts
 * prepareVersion stores it (a client's values there are replaced, not judged).
 */
async function rehearse(request: FastifyRequest, validator: Validator, input: ModeInput, steps: WriteSteps, id: string, live: VersionRecord | undefined): Promise<OperationOutcomeIssue[]> {
  const body = input.resource;
  const options = { mode: input.mode, profiles: input.profiles };
  if (input.bodyRefused || !isObject(body)) return validator.validateResource(body, options);
  let ruled: Resource | undefined;
  let refusal = await refusalOf(steps.access);
  if (!refusal) refusal = await refusalOf(async () => { ruled = await steps.rules(); });
  const stored = storedForm(ruled ?? (body as unknown as Resource), input.type, id, (live?.vid ?? 0) + 1, new Date(request.server.now()).toISOString());
  const validation = validator.validateResource(stored, options);
  if (!refusal && ruled) refusal = await refusalOf(() => steps.commit(ruled!));
  return [...(refusal ? issuesOf(refusal, validation) : []), ...validation];
}

/** The refusal `step` throws; undefined when it passes. Anything but a client's refusal (a store failure) is no answer about the write: it is thrown. */
async function refusalOf(step: () => Promise<unknown>): Promise<FhirError | undefined> {
  try {
    await step();
    return undefined;
  } catch (err) {
    if (!(err instanceof FhirError) || err.statusCode >= 500) throw err;
    return err;
  }
}

/** A refusal as issues, leaving out those of a validation refusal that `validation` (the same validator) reports already. */
function issuesOf(refusal: FhirError, validation: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const issues = refusal.toOperationOutcome().issue;
  if (!(refusal instanceof ValidationError)) return issues;
  const key = (i: OperationOutcomeIssue) => `${i.severity}|${i.code}|${i.expression?.[0] ?? ''}|${i.diagnostics ?? ''}`;
  const known = new Set(validation.map(key));
  return issues.filter((i) => !known.has(key(i)));
}

/**
 * The current version of `type/id` for an update or delete of it, once the
 * policy let the caller read it: refused (403; 410 for the bytes of a deleted
 * document) exactly as a read would be, before anything is said about it.
 * Absent or deleted: nothing to read (a PUT creates it, a DELETE changes
 * nothing); the tombstone is returned as the write routes see it.
 */
async function readAsARead(request: FastifyRequest, type: string, id: string): Promise<VersionRecord | undefined> {
  checkTypeAndId(type, id);
  await authorize(request, 'r', INTERACTION, { resourceType: type, id }, { precheck: true });
  const current = await request.server.engine.current(type, id);
  if (!current || current.deleted) return current;
  if (type === 'Binary') await authorizeBinary(request, 'r', 'read', current, { audit: false });
  else await authorize(request, 'r', INTERACTION, { resourceType: type, id, record: current }, { precheck: true });
  return current;
}

/** The policy's word on the version the write would store (routes/resource.ts writeCheck). */
async function judgeVersion(request: FastifyRequest, action: 'c' | 'u', record: VersionRecord): Promise<void> {
  await authorize(request, action, INTERACTION, { resourceType: record.type, id: record.id, record }, { precheck: true });
}

/** The documents' content rules on the version (document-content.ts underContentRules), without their turns: nothing is committed. */
async function contentRules(request: FastifyRequest, record: VersionRecord, bytes?: Buffer): Promise<void> {
  if (record.type !== 'Binary' && record.type !== 'DocumentReference') return;
  const write = { record, ...(bytes ? { bytes } : {}) };
  await checkContentWrite(request, write, [write]);
}

/**
 * routes/subscriptions.ts: who may subscribe or change a Subscription (its
 * owner only), the criteria and channel it must have, the status the server
 * gives it; the policy's word on the version for all but a patient's app.
 */
function subscriptionSteps(request: FastifyRequest, body: Subscription, id: string | undefined, live: VersionRecord | undefined): WriteSteps {
  const { repository, config } = request.server;
  let policyChecked = false;
  return {
    access: async () => {
      const principal = principalOf(request);
      if (isPatientSide(principal)) {
        await authorize(request, 's', INTERACTION, { resourceType: compileCriteria(body.criteria).type }, { precheck: true });
      } else {
        await authorize(request, id === undefined ? 'c' : 'u', INTERACTION, { resourceType: 'Subscription', id }, { precheck: true });
        policyChecked = true;
      }
      if (id !== undefined) await checkSubscriptionOwner(request, id);
    },
    rules: () => {
      const accepted = acceptSubscription(body, { allowPrivateEndpoints: config.subscriptionAllowPrivateEndpoints });
      if (id !== undefined) return accepted as Resource;
      const { id: _ignored, ...rest } = accepted;
      return rest as Resource;
    },
    commit: async (ruled) => {
      const prepared = id === undefined ? await repository.prepareCreate(ruled) : await repository.prepareUpdate('Subscription', id, ruled, { method: 'PUT', keepUnchanged: true });
      if (policyChecked) await judgeVersion(request, live ? 'u' : 'c', prepared.unchanged ?? prepared.op!.record);
    },
  };
}

/** A Binary sent as FHIR JSON, as routes/binary.ts receives it: its `data` base64, within the size limit, and kept apart from the version. */
function binaryWithoutData(request: FastifyRequest, binary: Binary): Omit<Binary, 'data'> {
  const { data, ...rest } = binary;
  if (typeof data !== 'undefined' && (typeof data !== 'string' || !isBase64Binary(data))) {
    throw new BadRequestError('FHIR_ERR_REST_BINARY_DATA', 'Binary.data must be base64', { expression: ['Binary.data'] });
  }
  const size = typeof data === 'string' ? Buffer.byteLength(data, 'base64') : 0;
  if (size > request.server.config.binaryMaxBytes) throw new PayloadTooLargeError(`Binary content is limited to ${request.server.config.binaryMaxBytes} bytes`);
  return rest;
}

/** The id a write of the mode names: the URL's, else the resource's (a PUT of it; a delete at the type level). */
function targetId(input: ModeInput): string | undefined {
  if (input.id !== undefined) return input.id;
  const id = isObject(input.resource) ? input.resource.id : undefined;
  return typeof id === 'string' ? id : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
