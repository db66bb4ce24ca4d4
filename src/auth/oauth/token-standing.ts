import type { AuthServer } from '../auth-server.js';
import type { Principal } from '../principal.js';

/** Who a token (access or refresh) was issued to, as far as its standing depends on it. */
export interface TokenHolder {
  clientId: string;
  kind: Principal['kind'];
  patient?: string;
}

/**
 * Whether an app acting for a patient still has that patient's Consent: the
 * question the access policy asks on every FHIR call (`app-without-consent`),
 * asked through the same AppConsents. Tokens of other kinds do not depend on one.
 */
export async function hasStandingConsent(holder: TokenHolder, auth: AuthServer): Promise<boolean> {
  if (holder.kind !== 'app') return true;
  // An app token is always bound to a patient; one that is not reaches nothing.
  if (holder.patient === undefined) return false;
  return !auth.appConsents || auth.appConsents.isActive(holder.patient, holder.clientId);
}

/**
 * Whether the server would still honour a token of `holder`, beyond its own
 * signature, expiry and revocation: the client is usable (a withdrawn
 * catalogue app is not, as the bearer check says) and an app's Consent stands.
 * Introspection answers with this, so that it never calls active a token the
 * API refuses (RFC 7662 §2.2).
 */
export async function isHolderInGoodStanding(holder: TokenHolder, auth: AuthServer): Promise<boolean> {
  return (await auth.clients.isUsable(holder.clientId)) && (await hasStandingConsent(holder, auth));
}
