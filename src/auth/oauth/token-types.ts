/** Token endpoint form parameters (RFC 6749 §4, RFC 7523, RFC 7636), each at most once. */
export interface TokenForm {
  grant_type?: string;
  scope?: string;
  client_id?: string;
  client_assertion_type?: string;
  client_assertion?: string;
  code?: string;
  redirect_uri?: string;
  code_verifier?: string;
  refresh_token?: string;
  /** Introspection and revocation. */
  token?: string;
  token_type_hint?: string;
}

/** Successful token response (RFC 6749 §5.1 and SMART's launch context). */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
  patient?: string;
  need_patient_banner?: boolean;
  smart_style_url?: string;
}
