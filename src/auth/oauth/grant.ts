import type { Principal } from '../principal.js';

/**
 * What a person agreed to give an app, as carried by an authorization code and
 * then by each refresh token of the same family.
 */
export interface Grant {
  clientId: string;
  /** Account id: the token subject. */
  accountId: string;
  kind: Principal['kind'];
  /** Granted scope string: resource scopes then special scopes. */
  scope: string;
  patient?: string;
  fhirUser?: string;
  nonce?: string;
  /** Epoch seconds of the sign-in. */
  authTime: number;
  /**
   * Epoch milliseconds of the approval, taken once its Consent (if any) is
   * written: every token of this grant ends for good when the app is
   * withdrawn from the catalogue after it, or when the holder's Consent for
   * the app stops standing after it, even for a while (token-standing.ts).
   * Absent in grants of earlier releases.
   */
  grantedAt?: number;
}
