import type { OperationOutcome, OperationOutcomeIssue, Parameters, Resource } from '@medplum/fhirtypes';
import type { FastifyPluginAsync } from 'fastify';
import { BadRequestError, ERROR_CODE_SYSTEM, MethodNotAllowedError, UnsupportedMediaTypeError, type FhirErrorCode } from '../../errors.js';
import { isFhirId } from '../../fhir/references.js';
import { allOk } from '../../fhir/outcome.js';
import { isResourceType } from '../../fhir/resource-types.js';
import { createValidator, type ValidateOptions, type Validator } from '../../fhir/validation/validate.js';
import { unknownType } from '../../store/repository.js';

export interface ValidateOperationOptions {
  /** The server's validator (with its required profiles); a default one otherwise. */
  validator?: Validator;
}

interface ValidateParams {
  type: string;
  id?: string;
}

interface ValidateQuery {
  mode?: string;
  profile?: string | string[];
}

const MODES = new Set(['create', 'update', 'delete']);
const FHIR_JSON_BODY = /^application\/(fhir\+)?json\s*(;|$)/i;

/**
 * `$validate` (resource-operation-validate): POST [base]/[type]/$validate and
 * POST [base]/[type]/[id]/$validate. The body is the resource, or a Parameters
 * with `resource`, `mode` and `profile`. Answers 200 with every issue found (or an
 * informational "All OK") and never stores anything.
 */
export const validateOperationRoutes: FastifyPluginAsync<ValidateOperationOptions> = async (app, opts) => {
  const validator = opts.validator ?? createValidator();
  const handler = async (params: ValidateParams, query: ValidateQuery, body: unknown, contentType: string | undefined): Promise<OperationOutcome> => {
    // As for POST /Foo: a type R4 does not define is a 404, not a resource to compare with.
    if (!isResourceType(params.type)) throw unknownType(params.type);
    // What the write would be refused for before any validation: an id that is none, a body that is no FHIR JSON.
    if (params.id !== undefined && !isFhirId(params.id)) {
      throw new BadRequestError('FHIR_ERR_REST_INVALID_ID', `"${params.id.slice(0, 64)}" is not a valid FHIR id (1-64 of A-Z a-z 0-9 - .)`);
    }
    if (!FHIR_JSON_BODY.test(contentType ?? '')) {
      throw new UnsupportedMediaTypeError(`$validate reads the resource as FHIR JSON (application/fhir+json), not ${String(contentType ?? 'a body without Content-Type').slice(0, 80)}`);
    }
    const { resource, mode, profiles } = readInput(body, query, params.type);
    if (mode === 'delete') return allOk('Nothing prevents the delete');
    const issues: OperationOutcomeIssue[] = [];
    if (resource && typeof resource === 'object' && !Array.isArray(resource)) {
      const r = resource as Record<string, unknown>;
      // Each carries the code the same write would be refused with.
      if (r.resourceType !== params.type) {
        issues.push(issue('FHIR_ERR_REST_TYPE_MISMATCH', 'invalid', `${params.type}.resourceType`,
          typeof r.resourceType === 'string' ? `The resource is a ${r.resourceType}, not a ${params.type}` : `The resource has no resourceType: a ${params.type} was expected`));
      }
      if (params.id !== undefined && r.id !== undefined && r.id !== params.id) {
        issues.push(issue('FHIR_ERR_REST_ID_MISMATCH', 'invalid', `${params.type}.id`,
          `The resource id '${String(r.id)}' differs from '${params.id}' in the URL`));
      }
      if (mode === 'update' && r.id === undefined) {
        issues.push(issue('FHIR_ERR_REST_ID_MISSING', 'required', `${params.type}.id`, 'An update needs the resource id'));
      }
    }
    const options: ValidateOptions = { mode: mode as ValidateOptions['mode'], profiles };
    issues.push(...validator.validateResource(resource, options));
    return issues.length ? { resourceType: 'OperationOutcome', issue: issues } : allOk();
  };

  app.post<{ Params: ValidateParams; Querystring: ValidateQuery }>('/:type/$validate', async (req, reply) =>
    reply.type('application/fhir+json').send(await handler(req.params, req.query, req.body, req.headers['content-type'])));
  app.post<{ Params: ValidateParams; Querystring: ValidateQuery }>('/:type/:id/$validate', async (req, reply) =>
    reply.type('application/fhir+json').send(await handler(req.params, req.query, req.body, req.headers['content-type'])));
  // Without these, GET /Patient/$validate would reach the read route and be "not a valid FHIR id",
  // and GET /Patient/p1/$validate the compartment search (routes/search.ts) for a type "$validate".
  const notAllowed = async (): Promise<never> => {
    throw new MethodNotAllowedError('$validate takes the resource in a POST', ['POST']);
  };
  for (const url of ['/:type/$validate', '/:type/:id/$validate']) {
    app.route({ method: ['GET', 'PUT', 'PATCH', 'DELETE'], url, handler: notAllowed });
  }
};

function issue(code: FhirErrorCode, issueCode: OperationOutcomeIssue['code'], expression: string, diagnostics: string): OperationOutcomeIssue {
  return { severity: 'error', code: issueCode, expression: [expression], diagnostics, details: { coding: [{ system: ERROR_CODE_SYSTEM, code }] } };
}

function readInput(body: unknown, query: ValidateQuery, type: string): { resource: unknown; mode?: string; profiles: string[] } {
  let resource: unknown = body;
  let mode = query.mode;
  const profiles = query.profile === undefined ? [] : Array.isArray(query.profile) ? [...query.profile] : [query.profile];
  if (body && typeof body === 'object' && (body as Resource).resourceType === 'Parameters') {
    const listed = (body as Parameters).parameter ?? [];
    if (!Array.isArray(listed) || listed.some((p) => !p || typeof p !== 'object' || Array.isArray(p))) {
      throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', 'Parameters.parameter must be a list of parameters');
    }
    const params = listed as NonNullable<Parameters['parameter']>;
    const given = params.find((p) => p.name === 'resource');
    // A Parameters resource is itself validated when it carries no `resource` parameter, and only
    // at Parameters/$validate: elsewhere it is the operation's input, missing what to validate.
    if (given) {
      resource = given.resource;
      if (!resource) throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', "The 'resource' parameter must hold a resource");
    } else if (type !== 'Parameters') {
      throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', `A Parameters body needs a 'resource' parameter holding the ${type} to validate`,
        { expression: ['Parameters.parameter'] });
    }
    for (const p of params) {
      if (p.name === 'mode' && p.valueCode) mode = p.valueCode;
      if (p.name === 'profile') {
        const url = p.valueUri ?? p.valueCanonical ?? p.valueString;
        if (url) profiles.push(url);
      }
    }
  }
  if (body === undefined || body === null || body === '' || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', 'The body must be the resource to validate, or a Parameters holding it');
  }
  if (mode !== undefined && !MODES.has(mode)) {
    throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', `Unknown mode '${mode}': expected create, update or delete`);
  }
  return { resource, mode, profiles };
}
