import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueCode = OperationOutcomeIssue['code'];
export type FhirErrorCode = `FHIR_ERR_${string}`;

/**
 * The one error type of the server. Domain code throws it (or a subclass) and
 * never touches the HTTP reply; plugins/fhir-errors.ts turns it into an
 * OperationOutcome with its status. Only the message reaches the client, so it
 * must never carry internals: put causes in `options.cause`, which is logged.
 */
export class FhirError extends Error {
  readonly issues: OperationOutcomeIssue[];
  constructor(
    readonly code: FhirErrorCode,
    readonly statusCode: number,
    readonly issueCode: IssueCode,
    message: string,
    options?: ErrorOptions & { expression?: string[]; issues?: OperationOutcomeIssue[]; headers?: Record<string, string> },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.headers = options?.headers;
    this.issues = options?.issues ?? [
      { severity: 'error', code: issueCode, diagnostics: message, ...(options?.expression ? { expression: options.expression } : {}) },
    ];
  }
  readonly headers: Record<string, string> | undefined;

  toOperationOutcome(): OperationOutcome {
    return {
      resourceType: 'OperationOutcome',
      issue: this.issues.map((i) => ({ ...i, details: i.details ?? { coding: [{ system: ERROR_CODE_SYSTEM, code: this.code }] } })),
    };
  }
}

/** The CodeSystem our error codes are published under (README "Error codes"). */
export const ERROR_CODE_SYSTEM = 'https://carnet.dev/fhir/CodeSystem/error-code';

export class BadRequestError extends FhirError {
  constructor(code: FhirErrorCode, message: string, options?: ConstructorParameters<typeof FhirError>[4]) {
    super(code, 400, 'invalid', message, options);
  }
}

export class UnprocessableError extends FhirError {
  constructor(code: FhirErrorCode, message: string, options?: ConstructorParameters<typeof FhirError>[4]) {
    super(code, 422, 'processing', message, options);
  }
}

export class ResourceNotFoundError extends FhirError {
  constructor(type: string, id: string, versionId?: string) {
    super(
      versionId ? 'FHIR_ERR_STORE_VERSION_NOT_FOUND' : 'FHIR_ERR_STORE_NOT_FOUND',
      404,
      'not-found',
      versionId ? `${type}/${id}/_history/${versionId} not found` : `${type}/${id} not found`,
    );
  }
}

/**
 * 410 for a deleted resource (or a deletion version), with the deletion's
 * ETag and Last-Modified: a client holding a cached copy learns which version
 * deleted it and when, as it would from any other answer about that version.
 * Told only to whoever could read what was deleted (routes/deleted-reads.ts).
 */
export class ResourceGoneError extends FhirError {
  constructor(readonly resourceType: string, readonly resourceId: string, readonly versionId: string, readonly lastUpdated: string) {
    super('FHIR_ERR_STORE_GONE', 410, 'deleted', `${resourceType}/${resourceId} was deleted`, {
      headers: { etag: `W/"${versionId}"`, 'last-modified': new Date(lastUpdated).toUTCString() },
    });
  }
}

export class VersionConflictError extends FhirError {
  constructor(message: string, status: 409 | 412 = 409) {
    super(status === 412 ? 'FHIR_ERR_STORE_PRECONDITION' : 'FHIR_ERR_STORE_CONFLICT', status, 'conflict', message);
  }
}

export class PreconditionFailedError extends FhirError {
  constructor(code: FhirErrorCode, message: string) {
    super(code, 412, 'conflict', message);
  }
}

export class UnauthorizedError extends FhirError {
  constructor(message = 'A valid bearer token is required', error: 'invalid_token' | 'invalid_request' | undefined = 'invalid_token') {
    super('FHIR_ERR_AUTH_TOKEN', 401, 'login', message, {
      headers: { 'www-authenticate': error ? `Bearer realm="carnet", error="${error}"` : 'Bearer realm="carnet"' },
    });
  }
}

export class ForbiddenError extends FhirError {
  /** `rule` names the policy rule that refused, so the caller and the audit can tell why. */
  constructor(message: string, readonly rule: string) {
    super('FHIR_ERR_AUTH_FORBIDDEN', 403, 'forbidden', message);
  }
}

export class NotAcceptableError extends FhirError {
  constructor(message: string) {
    super('FHIR_ERR_HTTP_NOT_ACCEPTABLE', 406, 'not-supported', message);
  }
}

export class UnsupportedMediaTypeError extends FhirError {
  constructor(message: string) {
    super('FHIR_ERR_HTTP_MEDIA_TYPE', 415, 'not-supported', message);
  }
}

export class PayloadTooLargeError extends FhirError {
  constructor(message: string) {
    super('FHIR_ERR_HTTP_TOO_LARGE', 413, 'too-costly', message);
  }
}

export class MethodNotAllowedError extends FhirError {
  constructor(message: string, allow: string[]) {
    super('FHIR_ERR_HTTP_METHOD', 405, 'not-supported', message, { headers: { allow: allow.join(', ') } });
  }
}

/** Validation failures carry every issue found, warnings included. */
export class ValidationError extends FhirError {
  constructor(issues: OperationOutcomeIssue[], status: 400 | 422 = 422) {
    const first = issues.find((i) => i.severity === 'error' || i.severity === 'fatal') ?? issues[0];
    super(status === 400 ? 'FHIR_ERR_VALIDATION_STRUCTURE' : 'FHIR_ERR_VALIDATION_RULE', status, first?.code ?? 'invalid',
      first?.diagnostics ?? 'Resource is not valid', { issues });
  }
}
