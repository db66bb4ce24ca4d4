import { randomBytes } from 'node:crypto';
import type { AuthServer } from '../auth-server.js';
import type { RegisteredClient } from '../clients.js';
import { OAuthError } from '../oauth-error.js';
import type { Principal } from '../principal.js';
import { checkScopeRestrictions } from '../scope-restrictions.js';
import { formatScopes, intersectScopes, InvalidScopeError, parseScopes, SPECIAL_SCOPES } from '../scopes.js';
import type { ResourceScope, SpecialScope } from '../scopes.js';
import type { Account } from './accounts.js';
import type { Grant } from './grant.js';
import { isS256Challenge } from './pkce.js';
import { redirectUriProblem } from '../redirect-uris.js';

/** The query of `GET /auth/authorize` (SMART App Launch, standalone launch). */
export interface AuthorizeQuery {
  response_type?: string;
  client_id?: string;
  redirect_uri?: string;
  scope?: string;
  state?: string;
  aud?: string;
  code_challenge?: string;
  code_challenge_method?: string;
  nonce?: string;
  launch?: string;
}

/** A pending authorization request, kept in kv between the pages (namespace `authorization-requests`). */
export interface PendingAuthorization {
  id: string;
  clientId: string;
  redirectUri: string;
  state?: string;
  /** Requested scopes this client may have at all (what the consent page lists). */
  scope: string;
  codeChallenge: string;
  nonce?: string;
  /** EHR launch: the patient the professional's software opened the app on. */
  launchPatient?: string;
  /** Set once the person has signed in. */
  accountUsername?: string;
  authTime?: number;
}

/** The request cannot be trusted to redirect (unknown client, unregistered redirect URI): show an error page. */
export class AuthorizePageError extends Error {}

/** An error to send back to the client's redirect URI (RFC 6749 §4.1.2.1). */
export class AuthorizeRedirectError extends Error {
  constructor(
    readonly oauth: OAuthError,
    readonly redirectUri: string,
    readonly state: string | undefined,
  ) {
    super(oauth.message);
  }
}

const NS = 'authorization-requests';
/** Time a person has to sign in and consent. */
export const PENDING_LIFETIME_MS = 10 * 60_000;

/** Checks an authorization request and keeps it; the returned id travels in the page forms. */
export async function startAuthorization(query: AuthorizeQuery, auth: AuthServer): Promise<{ pending: PendingAuthorization; client: RegisteredClient }> {
  const client = query.client_id ? await auth.clients.get(query.client_id) : undefined;
  if (!client) throw new AuthorizePageError('Unknown client_id');
  if (!query.redirect_uri || !client.redirectUris?.includes(query.redirect_uri)) {
    throw new AuthorizePageError('redirect_uri is not one registered for this client');
  }
  // A registration from before redirect URIs were checked (a javascript: one) sends no browser anywhere.
  if (redirectUriProblem(query.redirect_uri)) throw new AuthorizePageError('redirect_uri is not one this server redirects to');
  const fail = (error: OAuthError['error'], description: string) =>
    new AuthorizeRedirectError(new OAuthError(error, description), query.redirect_uri!, query.state);
  if (query.response_type !== 'code') throw fail('unsupported_response_type', 'response_type must be code');
  if (client.kind !== 'app') throw fail('unauthorized_client', 'This client may not use the authorization code flow');
  if (query.aud !== auth.config.fhirBase) throw fail('invalid_request', `aud must be the FHIR base URL ${auth.config.fhirBase}`);
  let launchPatient: string | undefined;
  if (query.launch !== undefined) {
    const context = query.launch.length <= 100 ? await auth.kv.get<LaunchContext>(LAUNCH_NS, query.launch) : undefined;
    if (!context) throw fail('invalid_request', 'Unknown or expired launch');
    if (!(query.scope ?? '').split(/\s+/).includes('launch')) throw fail('invalid_scope', 'An EHR launch must request the launch scope');
    launchPatient = context.patient;
  }
  if (!query.code_challenge || query.code_challenge_method !== 'S256') throw fail('invalid_request', 'PKCE is required: code_challenge with code_challenge_method S256');
  if (!isS256Challenge(query.code_challenge)) throw fail('invalid_request', 'code_challenge is not an S256 challenge');
  if (!query.scope?.trim()) throw fail('invalid_scope', 'scope is required');
  let requested;
  try {
    requested = parseScopes(query.scope);
    checkScopeRestrictions(requested.resources);
  } catch (err) {
    if (err instanceof InvalidScopeError) throw fail('invalid_scope', err.message);
    throw err;
  }
  const allowed = parseScopes(client.scope);
  const resources = intersectScopes(requested.resources.filter((s) => s.context !== 'system'), allowed.resources);
  const special = SPECIAL_SCOPES.filter((s) => s !== 'launch' && requested.special.has(s));
  if (resources.length === 0 && special.length === 0) throw fail('invalid_scope', 'None of the requested scopes is allowed for this client');
  const pending: PendingAuthorization = {
    id: randomBytes(32).toString('base64url'),
    clientId: client.clientId,
    redirectUri: query.redirect_uri,
    scope: formatScopes({ resources, special }),
    codeChallenge: query.code_challenge,
    ...(query.state !== undefined ? { state: query.state } : {}),
    ...(query.nonce ? { nonce: query.nonce } : {}),
    ...(launchPatient ? { launchPatient } : {}),
  };
  await save(pending, auth);
  return { pending, client };
}

/** kv namespace of EHR launch contexts (`POST /auth/launch`). */
export const LAUNCH_NS = 'launch-contexts';
export interface LaunchContext { patient: string; issuedTo: string }

export async function loadAuthorization(id: string | undefined, auth: AuthServer): Promise<PendingAuthorization | undefined> {
  if (!id || id.length > 100) return undefined;
  return auth.kv.get<PendingAuthorization>(NS, id);
}

export async function save(pending: PendingAuthorization, auth: AuthServer): Promise<void> {
  await auth.kv.put(NS, pending.id, pending, { expiresAt: auth.now() + PENDING_LIFETIME_MS });
}

/** Ends a pending request (after consent or refusal): its id cannot be used again. */
export async function finishAuthorization(id: string, auth: AuthServer): Promise<PendingAuthorization | undefined> {
  return auth.kv.take<PendingAuthorization>(NS, id);
}

/**
 * Whether this account may take the patient an EHR launch names (always true
 * without a launch). The launching software chose the patient, not the person
 * signing in: a professional may open it (the access policy then decides what
 * they see there), anyone else only a patient their own account already
 * acts for. Otherwise any patient account could become the launch patient's holder.
 */
export function mayTakeLaunchPatient(pending: PendingAuthorization, account: Account): boolean {
  if (pending.launchPatient === undefined) return true;
  return account.kind === 'practitioner' || account.patients.includes(pending.launchPatient);
}

/** What the consent page offers an account: scopes in the pending request's order, and whether a patient is bound. */
export interface OfferedScopes {
  resources: ResourceScope[];
  special: SpecialScope[];
  /** Whether the grant may be bound to a patient (launch context, patient/ scopes): false when it shares nothing of a space. */
  patientContext: boolean;
}

/** Who the app is, as far as what it may be given depends on it. */
export interface AppAudience {
  /**
   * An app of the catalogue (registered through `/admin/apps`): a third-party
   * service acting for a patient, which reaches a space only under the
   * holder's Consent (DOMAIN: "only with the holder's express consent, per
   * service"). The apps of CLIENTS_FILE are the operator's own integrations
   * (practice software with user/ scopes, apps its EHRs launch).
   */
  catalogueApp?: boolean;
}

/** The special scopes a catalogue app may give a professional: who they are, nothing of any space. */
const IDENTITY_SCOPES: ReadonlySet<SpecialScope> = new Set(['openid', 'fhirUser']);

/**
 * Scopes an account may be given, in the pending request's order (none when
 * it may not take the launch patient). A catalogue app gets data only from
 * the holder or a legal representative, who give it their Consent, and only
 * patient/ scopes (never user/ ones); a professional signing in through it
 * (or an administrator) is offered `openid` and `fhirUser` only, with no
 * patient to choose. Other apps: patient/ scopes for an account that acts for
 * patients or on an EHR launch, and user/ scopes.
 */
export function scopesForAccount(pending: PendingAuthorization, account: Account, audience: AppAudience = {}): OfferedScopes {
  if (!mayTakeLaunchPatient(pending, account)) return { resources: [], special: [], patientContext: false };
  const parsed = parseScopes(pending.scope);
  if (audience.catalogueApp && account.kind !== 'patient' && account.kind !== 'related-person') {
    return { resources: [], special: [...parsed.special].filter((s) => IDENTITY_SCOPES.has(s)), patientContext: false };
  }
  const resources = parsed.resources.filter((s) => {
    if (s.context === 'patient') return account.patients.length > 0 || pending.launchPatient !== undefined;
    return s.context === 'user' && !audience.catalogueApp;
  });
  const special = [...parsed.special].filter((s) => s !== 'launch/patient' || account.patients.length > 0);
  if (pending.launchPatient && parsed.special.has('launch')) special.push('launch');
  return { resources, special, patientContext: true };
}

export const LAUNCH_PATIENT_REFUSED = 'This account may not open the patient of this EHR launch';

export const PRINCIPAL_KIND_OF_ACCOUNT: Record<Account['kind'], Principal['kind']> = {
  patient: 'patient',
  'related-person': 'related-person',
  practitioner: 'practitioner',
  admin: 'admin',
};

/**
 * The grant from what the person ticked: only scopes that were offered, a
 * patient among those the account may act for when patient scopes remain.
 */
export function grantFromConsent(
  pending: PendingAuthorization,
  account: Account,
  ticked: string[],
  chosenPatient: string | undefined,
  now: number,
  audience: AppAudience = {},
): Grant {
  if (!mayTakeLaunchPatient(pending, account)) throw new OAuthError('access_denied', LAUNCH_PATIENT_REFUSED);
  const offered = scopesForAccount(pending, account, audience);
  const tickedSet = new Set(ticked);
  const resources = offered.resources.filter((s) => tickedSet.has(s.raw));
  const special = offered.special.filter((s) => tickedSet.has(s));
  if (resources.length === 0 && special.length === 0) throw new OAuthError('access_denied', 'No scope was granted');
  const grant: Grant = {
    clientId: pending.clientId,
    accountId: account.id,
    kind: PRINCIPAL_KIND_OF_ACCOUNT[account.kind],
    scope: formatScopes({ resources, special }),
    authTime: Math.floor((pending.authTime ?? now) / 1000),
    ...(account.fhirUser ? { fhirUser: account.fhirUser } : {}),
    ...(pending.nonce ? { nonce: pending.nonce } : {}),
  };
  if (offered.patientContext && (resources.some((s) => s.context === 'patient') || special.includes('launch/patient') || pending.launchPatient)) {
    // EHR launch: the launching software chose the patient; the access policy decides what the person may see.
    const patient = pending.launchPatient ?? chosenPatient ?? (account.patients.length === 1 ? account.patients[0] : undefined);
    if (!patient || (!pending.launchPatient && !account.patients.includes(patient))) throw new OAuthError('invalid_request', 'Choose a patient this account may act for');
    grant.patient = patient;
  }
  return grant;
}
