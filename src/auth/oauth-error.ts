import { FhirError } from '../errors.js';

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'unsupported_token_type'
  | 'temporarily_unavailable'
  | 'server_error';

/**
 * An OAuth 2.0 error (RFC 6749 §5.2). The auth routes answer it as OAuth JSON
 * (`{ error, error_description }`); should it escape to the FHIR error handler
 * it still is a FhirError with the same status. The description is our own text.
 */
export class OAuthError extends FhirError {
  constructor(
    readonly error: OAuthErrorCode,
    description: string,
    status: 400 | 401 | 429 | 503 = error === 'invalid_client' ? 401 : 400,
    options?: ErrorOptions,
  ) {
    super('FHIR_ERR_AUTH_OAUTH', status, status === 401 ? 'login' : 'invalid', description, options);
  }

  toOAuthJson(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.error, error_description: this.message };
  }
}
