import type { Requirement } from '../../runner/types.js';

const SPEC = 'HL7 SMART App Launch 2.2';
const SMART = 'https://hl7.org/fhir/smart-app-launch/STU2.2';

function req(id: string, section: string, page: string, text: string, spec = SPEC): Requirement {
  return { id, spec, section, url: page.startsWith('http') ? page : `${SMART}/${page}`, text };
}

export const SMART_REQ = {
  discovery: req('smart-discovery', 'Conformance: .well-known/smart-configuration', 'conformance.html#using-well-known',
    'The server SHALL serve JSON at [base]/.well-known/smart-configuration with the REQUIRED token_endpoint (an absolute URL), grant_types_supported, capabilities and code_challenge_methods_supported; authorization_endpoint when it claims launch-ehr or launch-standalone; issuer and jwks_uri when it claims sso-openid-connect.'),
  pkceMethods: req('smart-pkce-methods', 'PKCE: code_challenge_methods_supported', 'conformance.html#metadata',
    'code_challenge_methods_supported SHALL include S256 and SHALL NOT include plain.'),
  pkceAuthorize: req('smart-pkce-authorize', 'App Launch: PKCE', 'app-launch.html#considerations-for-pkce-support',
    'Servers SHALL require PKCE with the S256 method for the authorization code grant and SHALL reject plain and requests without a code_challenge.'),
  tokenResponse: req('smart-token-response', 'Backend Services: access token response', 'backend-services.html#issue-access-token',
    'A successful token response is JSON with access_token, token_type "bearer", expires_in and scope, sent with Cache-Control: no-store (RFC 6749 section 5.1).'),
  assertion: req('smart-backend-assertion', 'Backend Services: authenticating the client', 'backend-services.html#signature-verification',
    'The server SHALL reject a client_assertion whose signature does not verify with the client\'s registered key, whose aud is not the token URL, that is expired, whose exp is more than five minutes in the future, whose jti was already used, or whose iss and sub are not both the client_id: 400 or 401 with error invalid_client.'),
  introspection: req('smart-introspection', 'Token Introspection', 'token-introspection.html',
    'The introspection endpoint (RFC 7662) answers active: true with scope, client_id and exp for a valid token, and active: false for anything else.'),
  scopes: req('smart-scope-enforcement', 'Scopes and launch context', 'scopes-and-launch-context.html',
    'A request without a token is refused with 401; with a token, the server SHALL only return or change data the granted scopes allow (403, or results filtered to the scopes).'),
} satisfies Record<string, Requirement>;
