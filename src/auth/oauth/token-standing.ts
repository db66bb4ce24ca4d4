import type { AuthServer } from '../auth-server.js';
import type { Principal } from '../principal.js';
import { grantedResourceScopes } from '../scopes.js';

/** Who a token (access or refresh) or a code was issued to, as far as its standing depends on it. */
export interface TokenHolder {
  clientId: string;
  kind: Principal['kind'];
  /** The scope it carries. */
  scope: string;
  patient?: string;
  /** When its authorization was given, epoch ms (Grant.grantedAt, Principal.grantedAt). */
  grantedAt: number;
}

/**
 * Whether the holder's Consent for the app `clientId` in `patient`'s space
 * (the id, no prefix) has stood without a break from `since` (epoch ms) until
 * now: access/app-consent-standing.ts, on the store, as the access policy asks it.
 */
export type ConsentStanding = (patient: string, clientId: string, since: number) => Promise<boolean>;

/**
 * Whether an app acting for a patient still has the Consent it was
 * authorised under: the question the access policy asks on every FHIR call
 * (`app-without-consent`). With `standing`, a Consent withdrawn after the
 * authorization, even if later made active again, no longer counts: the app
 * needs a new authorization. An app authorised for no data of the space
 * (`openid fhirUser`, `launch/patient` alone) has no Consent and needs none:
 * its token reaches nothing there. Tokens of other kinds depend on no Consent.
 */
export async function hasStandingConsent(holder: TokenHolder, auth: AuthServer, standing?: ConsentStanding): Promise<boolean> {
  if (holder.kind !== 'app') return true;
  if (grantedResourceScopes(holder.scope).length === 0) return true;
  // An app token with data scopes is always bound to a patient; one that is not reaches nothing.
  if (holder.patient === undefined) return false;
  if (!auth.appConsents) return true;
  return standing ? standing(holder.patient, holder.clientId, holder.grantedAt) : auth.appConsents.isActive(holder.patient, holder.clientId);
}

/**
 * Whether the server would still honour a token (or code) of `holder`,
 * beyond its own signature, expiry and revocation: the client was not
 * withdrawn from the catalogue since the authorization (ClientRegistry.honours,
 * as the bearer check asks) and an app's Consent stood since. Introspection
 * answers with this, so that it never calls active a token the API refuses
 * (RFC 7662 §2.2); the token endpoint, so that it issues none from a dead
 * authorization.
 */
export async function isHolderInGoodStanding(holder: TokenHolder, auth: AuthServer, standing?: ConsentStanding): Promise<boolean> {
  return (await auth.clients.honours(holder.clientId, holder.grantedAt)) && (await hasStandingConsent(holder, auth, standing));
}
