import type { Principal } from '../../auth/principal.js';
import { mayRead, readContext } from '../../access/guard.js';
import type { StoreEngine, VersionRecord } from '../../store/engine.js';

/**
 * Whether a client's authorization given at `grantedAt` (epoch ms) still
 * stands (auth/clients.ts `honours`: false once a catalogue app is withdrawn,
 * and for good for what was granted before, even once it is referenced again).
 */
export type ClientUsable = (clientId: string, grantedAt: number) => Promise<boolean>;

/** Answers, for one notification, whether its owner may read a version (the match itself, a List's items). */
export type OwnerReads = (record: VersionRecord) => Promise<boolean>;

/**
 * How a Subscription's owner is judged: exactly as a read by that owner would
 * be, at the time of the notification. The one read decision is the guard's
 * `mayRead`, which a request's `isReadable` calls too (the policy, the app's
 * Consent, the scopes' search restrictions such as
 * `patient/Observation.rs?category=vital-signs`); no rule is restated here,
 * so a Subscription can never see more than a read.
 * On top, what a request gets from `authenticate` before any read: a client
 * that may no longer use its tokens (a withdrawn catalogue app) reads nothing,
 * so its Subscriptions deliver nothing, neither payload nor id-only notice.
 *
 * Undefined when the owner may read nothing at all; else one judge per
 * notification, which loads each patient's facts once (as a request does).
 */
export async function ownerReads(owner: Principal, engine: StoreEngine, isUsable: ClientUsable, now: () => number, fhirBase: string): Promise<OwnerReads | undefined> {
  // The owner as recorded from the token that subscribed: a Subscription made before a withdrawal dies with it.
  if (!(await isUsable(owner.clientId, owner.grantedAt ?? 0))) return undefined;
  const context = readContext(owner, engine, now, fhirBase);
  return (record) => mayRead(context, record);
}
