import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Resource } from '@medplum/fhirtypes';
import { BadRequestError, FhirError, MethodNotAllowedError } from '../errors.js';
import { authorize } from '../access/guard.js';
import { conditionalRestriction } from '../access/hidden-names.js';
import { disclosed, refuseChangeOverHidden } from '../access/hidden-references.js';
import { writeInTurn } from '../store/resource-turns.js';
import { readTellingDeletion } from './deleted-reads.js';
import { checkTypeAndId, queryPairs } from '../store/repository.js';
import type { WriteCheck, WriteResult } from '../store/repository.js';
import { allOk } from '../fhir/outcome.js';
import { applyJsonPatch } from '../fhir/json-patch.js';
import { checkWritePreconditions } from './write-preconditions.js';
import { isConditionalRead, isNotModified, readShaping, responseType, sendNotModified, sendRecord, sendWriteResult } from './respond.js';
import { applyWriteRules } from '../space/documents/document-hook.js';
import { refuseDeletingUsedContent, underContentRules } from '../space/documents/document-content.js';

interface TypeParams { type: string }
interface InstanceParams { type: string; id: string }
interface VersionParams extends InstanceParams { vid: string }

/**
 * The instance and type interactions of the FHIR RESTful API
 * (https://hl7.org/fhir/R4/http.html) for every resource type. Each handler
 * asks the policy (authorize) before it reads or writes.
 */
export const resourceRoutes: FastifyPluginAsync = async (app) => {
  const { repository, engine, config } = app;

  /**
   * A write's answer shows the new version as a read of it would: a List
   * without the items hidden from the caller (access/hidden-references.ts),
   * or the answer would tell what the read keeps from them.
   */
  const sendWriteAnswer = async (request: FastifyRequest, reply: FastifyReply, result: WriteResult) =>
    sendWriteResult(request, reply, engine, { ...result, record: await disclosed(request, result.record) }, config.fhirBase);

  app.get<{ Params: InstanceParams }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    responseType(request);
    const shaping = readShaping(request);
    checkTypeAndId(type, id);
    await authorize(request, 'r', 'read', { resourceType: type, id }, { precheck: true });
    const record = await readTellingDeletion(request, () => repository.read(type, id),
      (lastLive) => authorize(request, 'r', 'read', { resourceType: type, id, record: lastLive }, { precheck: true }));
    await authorize(request, 'r', 'read', { resourceType: type, id, record });
    if (isConditionalRead(request) && await isNotModified(request, record)) return sendNotModified(reply, record);
    return sendRecord(request, reply, engine, await disclosed(request, record), 200, shaping);
  });

  app.get<{ Params: VersionParams }>('/:type/:id/_history/:vid', async (request, reply) => {
    const { type, id, vid } = request.params;
    responseType(request);
    const shaping = readShaping(request);
    checkTypeAndId(type, id);
    await authorize(request, 'r', 'vread', { resourceType: type, id }, { precheck: true });
    const record = await readTellingDeletion(request, () => repository.vread(type, id, vid),
      (lastLive) => authorize(request, 'r', 'vread', { resourceType: type, id, record: lastLive }, { precheck: true }));
    await authorize(request, 'r', 'vread', { resourceType: type, id, record });
    if (isConditionalRead(request) && await isNotModified(request, record)) return sendNotModified(reply, record);
    return sendRecord(request, reply, engine, await disclosed(request, record), 200, shaping);
  });

  app.post<{ Params: TypeParams }>('/:type', async (request, reply) => {
    const { type } = request.params;
    responseType(request);
    const resource = bodyResource(request, type);
    await authorize(request, 'c', 'create', { resourceType: type }, { precheck: true });
    const ifNoneExist = headerText(request.headers['if-none-exist']);
    if (ifNoneExist !== undefined) await authorize(request, 's', 'search-type', { resourceType: type }, { precheck: true });
    const { id: _ignored, ...withoutId } = resource; // create ignores a client id (http.html#create)
    const ruled = applyWriteRules(request, type, { method: 'POST', next: withoutId as Resource })!;
    // Only what the caller may see can match: a hidden resource is neither returned nor counted.
    const restrict = ifNoneExist !== undefined ? await conditionalRestriction(request) : undefined;
    // A document's content is a Binary that exists, in that Binary's turn (space/documents/document-content.ts).
    const result = await underContentRules(request, (content) =>
      repository.create(ruled, { ifNoneExist, check: content(writeCheck(request, 'c', 'create')), restrict }));
    // The match is answered as a read of it: the policy's word, and the audit trail's.
    if (!result.created) await authorize(request, 'r', 'read', { resourceType: type, id: result.record.id, record: result.record });
    return sendWriteAnswer(request, reply, result);
  });

  app.put<{ Params: InstanceParams }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    responseType(request);
    checkTypeAndId(type, id);
    const resource = bodyResource(request, type);
    await authorize(request, 'u', 'update', { resourceType: type, id }, { precheck: true });
    if (type === 'AuditEvent') throw auditEventsAreImmutable();
    const ifMatch = headerText(request.headers['if-match']);
    const result = await underContentRules(request, (content) => writeInTurn(repository.turns, type, id, ifMatch, async () => {
      const current = await engine.current(type, id);
      if (current && !current.deleted) {
        await authorize(request, 'u', 'update', { resourceType: type, id, record: current }, { precheck: true });
        await refuseChangeOverHidden(request, current, 'update');
      }
      checkWritePreconditions(request, current);
      const check = !current || current.deleted ? writeCheck(request, 'c', 'create') : writeCheck(request, 'u', 'update');
      const ruled = applyWriteRules(request, type, { method: 'PUT', next: resource, current })!;
      return repository.update(type, id, ruled, { ifMatch, check: content(check) });
    }));
    return sendWriteAnswer(request, reply, result);
  });

  app.put<{ Params: TypeParams }>('/:type', async (request, reply) => {
    const { type } = request.params;
    responseType(request);
    const resource = bodyResource(request, type);
    if (type === 'AuditEvent') throw auditEventsAreImmutable();
    await authorize(request, 'u', 'update', { resourceType: type }, { precheck: true });
    await authorize(request, 's', 'search-type', { resourceType: type }, { precheck: true });
    const restrict = await conditionalRestriction(request);
    const result = await underContentRules(request, (content) => repository.conditionalUpdate(type, searchPairs(request), resource, {
      ifMatch: headerText(request.headers['if-match']),
      check: content(writeCheck(request, 'u', 'update')),
      restrict,
      // As a PUT on the match would be: the policy on its current version, and the domain's rules knowing it.
      rules: async (current, next) => {
        if (current) {
          await authorize(request, 'u', 'update', { resourceType: type, id: current.id, record: current }, { precheck: true });
          await refuseChangeOverHidden(request, current, 'update');
        }
        return applyWriteRules(request, type, { method: 'PUT', next, current });
      },
    }));
    return sendWriteAnswer(request, reply, result);
  });

  app.patch<{ Params: InstanceParams }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    responseType(request);
    checkTypeAndId(type, id);
    if (!/^application\/json-patch\+json\b/i.test(request.headers['content-type'] ?? '')) {
      throw new FhirError('FHIR_ERR_HTTP_MEDIA_TYPE', 415, 'not-supported', 'PATCH needs Content-Type application/json-patch+json');
    }
    await authorize(request, 'u', 'patch', { resourceType: type, id }, { precheck: true });
    if (type === 'AuditEvent') throw auditEventsAreImmutable();
    const ifMatch = headerText(request.headers['if-match']);
    const result = await underContentRules(request, (content) => writeInTurn(repository.turns, type, id, ifMatch, async () => {
      const current = await repository.read(type, id);
      await authorize(request, 'u', 'patch', { resourceType: type, id, record: current }, { precheck: true });
      // Before the patch applies: its `test` operations would otherwise tell what is hidden.
      await refuseChangeOverHidden(request, current, 'patch');
      checkWritePreconditions(request, current);
      const next = applyJsonPatch(JSON.parse(current.json) as Resource, request.body);
      const patched = applyWriteRules(request, type, { method: 'PATCH', next, current })!;
      // The patch applies to the version just read: nothing may land in between.
      return repository.update(type, id, patched, { ifMatch: ifMatch ?? `W/"${current.vid}"`, method: 'PATCH', check: content(writeCheck(request, 'u', 'patch'), patched) });
    }));
    return sendWriteAnswer(request, reply, result);
  });

  app.delete<{ Params: InstanceParams }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    responseType(request);
    checkTypeAndId(type, id);
    await authorize(request, 'd', 'delete', { resourceType: type, id }, { precheck: true });
    if (type === 'AuditEvent') throw auditEventsAreImmutable();
    const ifMatch = headerText(request.headers['if-match']);
    const result = await writeInTurn(repository.turns, type, id, ifMatch, async () => {
      const current = await engine.current(type, id);
      await authorize(request, 'd', 'delete', { resourceType: type, id, ...(current && !current.deleted ? { record: current } : { compartments: [] }) });
      if (current && !current.deleted) await refuseChangeOverHidden(request, current, 'delete');
      checkWritePreconditions(request, current);
      applyWriteRules(request, type, { method: 'DELETE', current });
      if (current && !current.deleted) await refuseDeletingUsedContent(request, current);
      return repository.delete(type, id, { ifMatch });
    });
    if (result) reply.header('etag', `W/"${result.record.vid}"`);
    return reply.code(200).type(responseType(request)).send(allOk(result ? `${type}/${id} deleted` : `${type}/${id} was not present`));
  });

  app.delete<{ Params: TypeParams }>('/:type', async (request, reply) => {
    const { type } = request.params;
    responseType(request);
    await authorize(request, 'd', 'delete', { resourceType: type }, { precheck: true });
    await authorize(request, 's', 'search-type', { resourceType: type }, { precheck: true });
    if (type === 'AuditEvent') throw auditEventsAreImmutable();
    const result = await repository.conditionalDelete(type, searchPairs(request), {
      check: writeCheck(request, 'd', 'delete'),
      restrict: await conditionalRestriction(request),
      // As a DELETE of the match would be; the access itself is audited once, by `check`.
      rules: async (current) => {
        await authorize(request, 'd', 'delete', { resourceType: type, id: current!.id, record: current! }, { precheck: true });
        await refuseChangeOverHidden(request, current!, 'delete');
        applyWriteRules(request, type, { method: 'DELETE', current });
        await refuseDeletingUsedContent(request, current!);
        return undefined;
      },
    });
    if (result) reply.header('etag', `W/"${result.record.vid}"`);
    return reply.code(200).type(responseType(request)).send(allOk(result ? `${type}/${result.record.id} deleted` : 'No match: nothing deleted'));
  });

  // Methods the FHIR API does not define on these paths: 405 with Allow, not a bare 404.
  app.post('/:type/:id', async () => { throw new MethodNotAllowedError('POST is not defined on a resource instance', ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE']); });
  app.patch('/:type', async () => { throw new MethodNotAllowedError('PATCH needs a resource id', ['GET', 'HEAD', 'POST', 'PUT', 'DELETE']); });
  for (const method of ['PUT', 'PATCH', 'DELETE', 'POST'] as const) {
    app.route({ method, url: '/:type/:id/_history/:vid', handler: async () => { throw new MethodNotAllowedError('Versions cannot be changed', ['GET', 'HEAD']); } });
  }
};

/** The policy's final word on a write, once the new version (its compartments and labels) is known. */
export function writeCheck(request: FastifyRequest, action: 'c' | 'u' | 'd', interaction: string): WriteCheck {
  return async (record) => {
    await authorize(request, action, interaction, { resourceType: record.type, id: record.id, record });
  };
}

const RESOURCE_BODY_TYPES = /^\s*application\/(fhir\+)?json\s*(;|$)/i;

/** The body of a create or update: a JSON object whose resourceType is the URL's. */
export function bodyResource(request: FastifyRequest, type: string): Resource {
  // The server reads JSON Patch and form bodies too, but for PATCH and _search: a resource is FHIR JSON.
  if (request.body !== undefined && !RESOURCE_BODY_TYPES.test(request.headers['content-type'] ?? '')) {
    throw new FhirError('FHIR_ERR_HTTP_MEDIA_TYPE', 415, 'not-supported', 'A resource is sent as application/fhir+json (or application/json)');
  }
  const body = request.body as unknown;
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequestError('FHIR_ERR_REST_NO_RESOURCE', 'The request body must be a FHIR resource (a JSON object)');
  }
  const resourceType = (body as { resourceType?: unknown }).resourceType;
  if (typeof resourceType !== 'string') {
    throw new BadRequestError('FHIR_ERR_REST_NO_RESOURCE', 'The request body has no resourceType', { expression: ['resourceType'] });
  }
  checkTypeAndId(type, 'placeholder');
  if (resourceType !== type) {
    throw new BadRequestError('FHIR_ERR_REST_TYPE_MISMATCH', `Body resourceType ${resourceType.slice(0, 80)} does not match the URL type ${type}`, { expression: ['resourceType'] });
  }
  return body as Resource;
}

/** Search criteria of a conditional interaction, from the URL query (without `_format`). */
export function searchPairs(request: FastifyRequest): Array<[string, string]> {
  const q = request.url.indexOf('?');
  return q < 0 ? [] : queryPairs(request.url.slice(q + 1)).filter(([k]) => k !== '_format' && k !== '_pretty');
}

export function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function auditEventsAreImmutable(): FhirError {
  return new FhirError('FHIR_ERR_AUDIT_IMMUTABLE', 405, 'not-supported', 'AuditEvents cannot be changed or deleted', { headers: { allow: 'GET, POST' } });
}
