import type { Config } from '../../config.js';
import { CLIENT_ASSERTION_ALGS } from '../clients.js';
import { SERVER_SIGNING_ALG } from '../keys.js';

/** What SMART and OpenID discovery both publish: the endpoints and how to authenticate. */
function endpoints(config: Pick<Config, 'publicUrl'>): Record<string, unknown> {
  const base = config.publicUrl;
  return {
    issuer: base,
    jwks_uri: `${base}/auth/jwks`,
    authorization_endpoint: `${base}/auth/authorize`,
    token_endpoint: `${base}/auth/token`,
    introspection_endpoint: `${base}/auth/introspect`,
    revocation_endpoint: `${base}/auth/revoke`,
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    response_types_supported: ['code'],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'none'],
    token_endpoint_auth_signing_alg_values_supported: [...CLIENT_ASSERTION_ALGS],
    code_challenge_methods_supported: ['S256'],
  };
}

/** SMART App Launch 2.2 `.well-known/smart-configuration`: what this server implements, nothing more. */
export function smartConfiguration(config: Pick<Config, 'publicUrl' | 'fhirBase'>): Record<string, unknown> {
  return {
    ...endpoints(config),
    scopes_supported: [
      'openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access', 'online_access',
      'patient/*.cruds', 'patient/*.rs', 'user/*.cruds', 'user/*.rs', 'system/*.cruds', 'system/*.rs',
    ],
    capabilities: [
      'launch-standalone',
      'launch-ehr',
      'context-ehr-patient',
      'authorize-post',
      'client-public',
      'client-confidential-symmetric',
      'client-confidential-asymmetric',
      'context-standalone-patient',
      'context-banner',
      'permission-offline',
      'permission-online',
      'permission-patient',
      'permission-user',
      'permission-v1',
      'permission-v2',
      'sso-openid-connect',
    ],
  };
}

/** OpenID Connect discovery for the same issuer (id_tokens of the authorization code flow). */
export function openidConfiguration(config: Pick<Config, 'publicUrl' | 'fhirBase'>): Record<string, unknown> {
  return {
    ...endpoints(config),
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [SERVER_SIGNING_ALG],
    scopes_supported: ['openid', 'fhirUser', 'launch/patient', 'offline_access', 'online_access'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'fhirUser'],
  };
}
