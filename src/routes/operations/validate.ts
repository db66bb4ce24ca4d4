import type { OperationOutcome, OperationOutcomeIssue, Parameters, Resource } from '@medplum/fhirtypes';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, ERROR_CODE_SYSTEM, MethodNotAllowedError, UnsupportedMediaTypeError, type FhirErrorCode } from '../../errors.js';
import { isFhirId } from '../../fhir/references.js';
import { allOk, hasErrors } from '../../fhir/outcome.js';
import { isResourceType } from '../../fhir/resource-types.js';
import { createValidator, type Validator } from '../../fhir/validation/validate.js';
import { unknownType } from '../../store/repository.js';
import { rehearseWrite, type WriteMode } from './validate-modes.js';

export interface ValidateOperationOptions {
  /** The server's validator (with its required profiles); a default one otherwise. */
  validator?: Validator;
}

interface ValidateParams {
  type: string;
  id?: string;
}

interface ValidateQuery {
  mode?: string | string[];
  profile?: string | string[];
}

interface ValidateRoute {
  Params: ValidateParams;
  Querystring: ValidateQuery;
}
type ValidateRequest = FastifyRequest<ValidateRoute>;

const MODES: ReadonlySet<string> = new Set(['create', 'update', 'delete']);
const FHIR_JSON_BODY = /^application\/(fhir\+)?json\s*(;|$)/i;

/**
 * Binary and Subscription have routes of their own under `/[type]/` (routes/binary.ts,
 * routes/subscriptions.ts, and their `$:operation` refusals in operations/unsupported.ts):
 * the router prefers their static segment to `/:type/$validate`, so theirs are named.
 */
const TYPES_WITH_OWN_ROUTES = ['Binary', 'Subscription'];

/**
 * `$validate` (resource-operation-validate): POST [base]/[type]/$validate and
 * POST [base]/[type]/[id]/$validate. The body is the resource, or a Parameters
 * with `resource` (at most one), `mode` (at most one) and `profile`. Answers 200
 * with every issue found (or an informational "All OK") and never stores anything.
 * Without a mode, the resource alone is validated, as it is (meta included).
 * With mode create, update or delete, the answer is what that write by the
 * caller would meet (validate-modes.ts): its access, its rules, the version it
 * would store; delete needs no resource, only the id.
 */
export const validateOperationRoutes: FastifyPluginAsync<ValidateOperationOptions> = async (app, opts) => {
  const validator = opts.validator ?? createValidator();
  const handler = async (request: ValidateRequest, type: string): Promise<OperationOutcome> => {
    const { id } = request.params;
    const body: unknown = request.body;
    const contentType = request.headers['content-type'];
    // As for POST /Foo: a type R4 does not define is a 404, not a resource to compare with.
    if (!isResourceType(type)) throw unknownType(type);
    // What the write would be refused for before any validation: an id that is none, a body that is no FHIR JSON.
    if (id !== undefined && !isFhirId(id)) {
      throw new BadRequestError('FHIR_ERR_REST_INVALID_ID', `"${id.slice(0, 64)}" is not a valid FHIR id (1-64 of A-Z a-z 0-9 - .)`);
    }
    // A delete needs no resource: `POST [type]/[id]/$validate?mode=delete` may come without a body.
    const bodyless = body === undefined && request.query.mode === 'delete';
    if (!bodyless && !FHIR_JSON_BODY.test(contentType ?? '')) {
      throw new UnsupportedMediaTypeError(`$validate reads the resource as FHIR JSON (application/fhir+json), not ${String(contentType ?? 'a body without Content-Type').slice(0, 80)}`);
    }
    const { resource, mode, profiles } = bodyless ? { resource: undefined, mode: 'delete' as const, profiles: profilesOf(request.query) } : readInput(body, request.query, type);
    const issues = mode === 'delete' ? [] : checkBody(resource, type, id, mode);
    if (mode === undefined) {
      // The resource alone, as it is: no write's rules, nor its access, nor the meta the server would set.
      issues.push(...validator.validateResource(resource, { profiles }));
      return issues.length ? { resourceType: 'OperationOutcome', issue: issues } : allOk('All OK (the resource alone: give mode create, update or delete to check what that write by you would meet)');
    }
    const answer = await rehearseWrite(request, validator, { type, id, mode, resource, profiles, bodyRefused: hasErrors(issues) });
    issues.push(...answer.issues);
    if (hasErrors(issues)) return { resourceType: 'OperationOutcome', issue: issues };
    return { resourceType: 'OperationOutcome', issue: [...issues, ...allOk(answer.accepted).issue] };
  };

  // `fixedType`: the type of a route whose path names it (TYPES_WITH_OWN_ROUTES).
  const send = (fixedType?: string) => async (request: ValidateRequest, reply: FastifyReply) =>
    reply.type('application/fhir+json').send(await handler(request, fixedType ?? request.params.type));
  app.post<ValidateRoute>('/:type/$validate', send());
  app.post<ValidateRoute>('/:type/:id/$validate', send());
  for (const type of TYPES_WITH_OWN_ROUTES) app.post<ValidateRoute>(`/${type}/$validate`, send(type));
  // Without these, GET /Patient/$validate would reach the read route and be "not a valid FHIR id",
  // and GET /Patient/p1/$validate the compartment search (routes/search.ts) for a type "$validate".
  const notAllowed = async (): Promise<never> => {
    throw new MethodNotAllowedError('$validate takes the resource in a POST', ['POST']);
  };
  for (const url of ['/:type/$validate', '/:type/:id/$validate', ...TYPES_WITH_OWN_ROUTES.map((type) => `/${type}/$validate`)]) {
    app.route({ method: ['GET', 'PUT', 'PATCH', 'DELETE'], url, handler: notAllowed });
  }
};

/** What the write refuses before its rules, each with the code it answers with: the URL's type and id against the body's. */
function checkBody(resource: unknown, type: string, id: string | undefined, mode: WriteMode | undefined): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  if (!resource || typeof resource !== 'object' || Array.isArray(resource)) return issues;
  const r = resource as Record<string, unknown>;
  if (r.resourceType !== type) {
    issues.push(issue('FHIR_ERR_REST_TYPE_MISMATCH', 'invalid', `${type}.resourceType`,
      typeof r.resourceType === 'string' ? `The resource is a ${r.resourceType}, not a ${type}` : `The resource has no resourceType: a ${type} was expected`));
  }
  if (id !== undefined && r.id !== undefined && r.id !== id) {
    issues.push(issue('FHIR_ERR_REST_ID_MISMATCH', 'invalid', `${type}.id`, `The resource id '${String(r.id)}' differs from '${id}' in the URL`));
  }
  if (mode === 'update' && r.id === undefined) {
    // A Binary's PUT compares the body's id with the URL's (routes/binary.ts): none is another one.
    issues.push(type === 'Binary' && id !== undefined
      ? issue('FHIR_ERR_REST_ID_MISMATCH', 'invalid', `${type}.id`, `The resource has no id: '${id}' in the URL was expected`)
      : issue('FHIR_ERR_REST_ID_MISSING', 'required', `${type}.id`, 'An update needs the resource id'));
  }
  return issues;
}

function issue(code: FhirErrorCode, issueCode: OperationOutcomeIssue['code'], expression: string, diagnostics: string): OperationOutcomeIssue {
  return { severity: 'error', code: issueCode, expression: [expression], diagnostics, details: { coding: [{ system: ERROR_CODE_SYSTEM, code }] } };
}

function readInput(body: unknown, query: ValidateQuery, type: string): { resource: unknown; mode?: WriteMode; profiles: string[] } {
  let resource: unknown = body;
  let mode = oneMode(query.mode);
  const profiles = profilesOf(query);
  if (body === undefined || body === null || body === '' || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', 'The body must be the resource to validate, or a Parameters holding it');
  }
  if ((body as Resource).resourceType === 'Parameters') {
    const listed = (body as Parameters).parameter ?? [];
    if (!Array.isArray(listed) || listed.some((p) => !p || typeof p !== 'object' || Array.isArray(p))) {
      throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', 'Parameters.parameter must be a list of parameters');
    }
    const params = listed as NonNullable<Parameters['parameter']>;
    // R4's $validate takes one resource and one mode (0..1 each): a second would go unread.
    const given = params.filter((p) => p.name === 'resource');
    const modes = params.filter((p) => p.name === 'mode');
    if (given.length > 1) throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', `$validate takes one 'resource' parameter, not ${given.length}`, { expression: ['Parameters.parameter'] });
    if (modes.length > 1) throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', `$validate takes one 'mode' parameter, not ${modes.length}`, { expression: ['Parameters.parameter'] });
    if (modes.length === 1) {
      if (typeof modes[0].valueCode !== 'string') throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', "The 'mode' parameter is a valueCode (create, update or delete)", { expression: ['Parameters.parameter'] });
      mode = checkMode(modes[0].valueCode);
    }
    // A Parameters resource is itself validated when it carries no `resource` parameter, and only
    // at Parameters/$validate: elsewhere it is the operation's input, missing what to validate,
    // unless it asks about a delete (R4: the resource is required "unless the mode is delete").
    if (given.length) {
      resource = given[0].resource;
      if (!resource) throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', "The 'resource' parameter must hold a resource");
    } else if (mode === 'delete') {
      resource = undefined;
    } else if (type !== 'Parameters') {
      throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', `A Parameters body needs a 'resource' parameter holding the ${type} to validate`,
        { expression: ['Parameters.parameter'] });
    }
    for (const p of params) {
      if (p.name === 'profile') {
        const url = p.valueUri ?? p.valueCanonical ?? p.valueString;
        if (url) profiles.push(url);
      }
    }
  }
  return { resource, mode, profiles };
}

/** The `mode` of the query: one of MODES, given once (400 otherwise). */
function oneMode(mode: string | string[] | undefined): WriteMode | undefined {
  if (Array.isArray(mode)) throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', `$validate takes one mode, not ${mode.length}`);
  return mode === undefined ? undefined : checkMode(mode);
}

function checkMode(mode: string): WriteMode {
  if (!MODES.has(mode)) throw new BadRequestError('FHIR_ERR_VALIDATION_INPUT', `Unknown mode '${mode.slice(0, 64)}': expected create, update or delete`);
  return mode as WriteMode;
}

function profilesOf(query: ValidateQuery): string[] {
  return query.profile === undefined ? [] : Array.isArray(query.profile) ? [...query.profile] : [query.profile];
}
