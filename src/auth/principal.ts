import type { ResourceScope } from './scopes.js';

/**
 * Who is calling, as established by a verified access token. Everything the
 * policy needs about the caller comes from here, never from request input.
 */
export interface Principal {
  kind: 'system' | 'patient' | 'related-person' | 'practitioner' | 'app' | 'admin';
  /** OAuth client the token was issued to. */
  clientId: string;
  /** Token subject: the client id for backend services, the account id for a person. */
  subject: string;
  /** Resource scopes granted, parsed. */
  scopes: ResourceScope[];
  /** Granted scope string exactly as in the token. */
  scope: string;
  /** Launch context: the patient id (no 'Patient/' prefix) the token is bound to. */
  patient?: string;
  /** The user's own resource, as 'Practitioner/123', 'Patient/1' or 'RelatedPerson/9'. */
  fhirUser?: string;
  /** The token's jti (audit, revocation). */
  tokenId: string;
  /** Token expiry, epoch milliseconds. */
  expiresAt: number;
  /**
   * When the authorization this token comes from was given (epoch ms): the
   * person's approval for a user token, the issue for a backend one. A
   * withdrawal after it (of the catalogue app, of the holder's Consent for the
   * app) ends the token for good. Absent only for a principal built elsewhere
   * than from a verified token.
   */
  grantedAt?: number;
}

/** The same party: the same client acting for the same person (or for itself). */
export function sameParty(a: Pick<Principal, 'clientId' | 'subject'>, b: Pick<Principal, 'clientId' | 'subject'>): boolean {
  return a.clientId === b.clientId && a.subject === b.subject;
}

/**
 * One text per party: equal for two principals exactly when `sameParty` holds
 * (each part escaped, so no client id and subject can be cut another way), for
 * what is stored under a party (the Subscriptions it owns, space/subscriptions).
 */
export function partyKey(a: Pick<Principal, 'clientId' | 'subject'>): string {
  return `${encodeURIComponent(a.clientId)}|${encodeURIComponent(a.subject)}`;
}

export const PRINCIPAL_KINDS: ReadonlySet<Principal['kind']> = new Set(['system', 'patient', 'related-person', 'practitioner', 'app', 'admin']);
