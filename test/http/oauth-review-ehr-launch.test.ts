import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { grantFromConsent } from '../../src/auth/oauth/authorization-requests.js';
import type { PendingAuthorization } from '../../src/auth/oauth/authorization-requests.js';
import { OAuthError } from '../../src/auth/oauth-error.js';
import { APPS, buildSpace, PASSWORD } from '../helpers/people.js';
import type { Space } from '../helpers/people.js';
import { exchangeCode, offeredScopes, pkcePair, requestIdOf } from '../helpers/tokens.js';

/**
 * An EHR launch names a patient chosen by the professional's software: only a
 * professional, or an account that already acts for that patient, may take
 * it. A patient (or a legal representative) signing in on someone else's
 * launch is refused, and nothing is written in that patient's space.
 */
t.test('EHR launch: the launch patient is not given to just any account', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const bob = space.bob.slice(8);
  const alice = space.alice.slice(8);
  const minor = space.minor.slice(8);

  const refused = async (username: string, patient: string) => {
    const done = await launchAndSignIn(space, username, patient);
    t.equal(done.statusCode, 302, `${username} on ${patient}: back to the app`);
    const location = new URL(String(done.headers.location));
    t.equal(location.searchParams.get('error'), 'access_denied', `${username} may not take ${patient}`);
    t.notOk(location.searchParams.get('code'), 'no code');
  };
  await refused(space.users.alice, bob);
  await refused(space.users.parent, bob);
  await refused(space.users.parent, alice);
  t.equal(await appConsentsOf(space, bob), 0, 'no Consent was written in the launch patient\'s space');
  t.equal(await appConsentsOf(space, alice), 0);

  // The person's own patient (or one they represent) still works, and the token is bound to it.
  for (const [username, patient] of [[space.users.alice, alice], [space.users.parent, minor]] as const) {
    const token = await approve(app, await launchAndSignIn(space, username, patient));
    t.equal(token.patient, patient, `${username} on their own patient ${patient}`);
  }
  // A professional takes the launch patient; the policy decides what they see there.
  const pro = await approve(app, await launchAndSignIn(space, space.users.doctor, alice));
  t.equal(pro.patient, alice);

  // The consent step refuses too, should a pending request get there without the sign-in check.
  const pending: PendingAuthorization = {
    id: 'x', clientId: APPS.holder, redirectUri: 'https://app.test/callback', scope: 'patient/*.cruds', codeChallenge: 'c', launchPatient: bob,
  };
  const account = (await app.carnetAuth.accounts.findByUsername(space.users.alice))!;
  const refusal = (() => {
    try {
      grantFromConsent(pending, account, ['patient/*.cruds'], undefined, Date.now());
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  t.ok(refusal instanceof OAuthError && refusal.error === 'access_denied', 'grantFromConsent refuses with access_denied');
});

/** POST /auth/launch for `patient`, authorize with it, sign in as `username`: the sign-in response. */
async function launchAndSignIn(space: Space, username: string, patient: string) {
  const { app } = space;
  const issued = await app.inject({
    method: 'POST', url: '/auth/launch', headers: { authorization: await space.systemAuth(), 'content-type': 'application/json' }, payload: { patient },
  });
  if (issued.statusCode !== 201) throw new Error(`launch failed: ${issued.statusCode} ${issued.body}`);
  const { challenge, verifier } = pkcePair();
  const query = new URLSearchParams({
    response_type: 'code', client_id: APPS.holder, redirect_uri: 'https://app.test/callback', scope: 'launch patient/*.cruds',
    state: 's', aud: app.config.fhirBase, code_challenge: challenge, code_challenge_method: 'S256', launch: issued.json().launch,
  });
  const start = await app.inject({ url: `/auth/authorize?${query}` });
  if (start.statusCode !== 200) throw new Error(`authorize failed: ${start.statusCode} ${start.headers.location}`);
  const signIn = await app.inject({
    method: 'POST', url: '/auth/authorize/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ request_id: requestIdOf(start.body), username, password: PASSWORD }).toString(),
  });
  return Object.assign(signIn, { verifier });
}

/** Approves every offered scope on the consent page and exchanges the code. */
async function approve(app: FastifyInstance, signIn: { statusCode: number; body: string; verifier: string }): Promise<{ patient?: string }> {
  if (signIn.statusCode !== 200) throw new Error(`sign-in refused: ${signIn.statusCode}`);
  const consent = new URLSearchParams({ request_id: requestIdOf(signIn.body), decision: 'approve' });
  for (const scope of offeredScopes(signIn.body)) consent.append('scope', scope);
  const done = await app.inject({ method: 'POST', url: '/auth/authorize/consent', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: consent.toString() });
  const code = new URL(String(done.headers.location)).searchParams.get('code');
  if (!code) throw new Error(`no code: ${done.headers.location}`);
  const res = await exchangeCode(app, code, signIn.verifier, APPS.holder);
  if (res.statusCode !== 200) throw new Error(`exchange failed: ${res.body}`);
  return res.json() as { patient?: string };
}

/** Active Consents naming the holder app in `patient`'s space. */
async function appConsentsOf(space: Space, patient: string): Promise<number> {
  const res = await space.app.inject({ url: `/fhir/Consent?patient=Patient/${patient}&status=active`, headers: { authorization: await space.systemAuth() } });
  const entries = (res.json() as { entry?: Array<{ resource: { provision?: { actor?: Array<{ reference?: { identifier?: { value?: string } } }> } } }> }).entry ?? [];
  return entries.filter((e) => e.resource.provision?.actor?.some((a) => a.reference?.identifier?.value === APPS.holder)).length;
}
