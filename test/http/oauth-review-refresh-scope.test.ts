import t from 'tap';
import { APPS, buildSpace, signIn } from '../helpers/people.js';
import { postTokenForm } from '../helpers/tokens.js';

/**
 * RFC 6749 §6 on refresh with `scope`: the access token gets the narrower
 * scope, the new refresh token keeps the original grant, and a scope the grant
 * does not include is `invalid_scope` (without spending the refresh token).
 */
t.test('refresh with scope narrows the access token only', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const grantScope = 'patient/*.cruds openid fhirUser launch/patient offline_access';
  const tokens = await signIn(app, { clientId: APPS.holder, username: space.users.alice, scope: grantScope });
  t.match(tokens.scope, /^patient\/\*\.cruds .*offline_access/);
  const refresh = (refreshToken: string, scope?: string) =>
    postTokenForm(app, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: APPS.holder, ...(scope ? { scope } : {}) });
  const get = (token: string, url: string) => app.inject({ url, headers: { authorization: `Bearer ${token}` } });

  const narrow = await refresh(tokens.refresh_token!, 'patient/Observation.rs offline_access');
  t.equal(narrow.statusCode, 200);
  t.equal(narrow.json().scope, 'patient/Observation.rs offline_access', 'the access token has the narrower scope');
  t.equal((await get(narrow.json().access_token, `/fhir/${space.alice}`)).statusCode, 403, 'and only that scope');

  // The next refresh, without scope, gets the whole grant back.
  const whole = await refresh(narrow.json().refresh_token);
  t.equal(whole.statusCode, 200);
  t.equal(whole.json().scope, tokens.scope, 'the refresh token kept the original grant');
  t.equal((await get(whole.json().access_token, `/fhir/${space.alice}`)).statusCode, 200);

  // Beyond the grant: invalid_scope, not a silently reduced token.
  const current = whole.json().refresh_token as string;
  for (const scope of ['patient/Observation.rs system/Patient.r', 'user/*.rs', 'patient/*.cruds profile', 'patient/Observation.rs online_access']) {
    const res = await refresh(current, scope);
    t.equal(res.statusCode, 400, scope);
    t.equal(res.json().error, 'invalid_scope', scope);
  }
  const after = await refresh(current, 'patient/Observation.rs?status=final');
  t.equal(after.statusCode, 200, 'the refresh token still works after refused scopes, and a restriction narrows too');
  t.equal(after.json().scope, 'patient/Observation.rs?status=final');
});
