import t from 'tap';
import { APPS, buildSpaceServer, VITAL_SIGNS } from '../helpers/people.js';
import { pkcePair, requestToken } from '../helpers/tokens.js';

/**
 * A v2 scope's restriction (`?param=value`) is enforced by the access policy
 * on every request; one it cannot enforce (a chain, `_has`, a result
 * parameter, an unknown parameter, a malformed value) is refused when asked
 * for, with `invalid_scope`, instead of being granted and then failing every
 * request with a 500 or a 400.
 */
const UNENFORCEABLE = [
  'system/Observation.rs?subject.name=x',
  'system/Observation.rs?_has:Observation:subject:code=x',
  'system/Observation.rs?nosuch=1',
  'system/Observation.rs?date=notadate',
  'system/Observation.rs?_count=abc',
  'system/Observation.rs?_count=5',
  'system/Observation.rs?_sort=nosuch',
  'system/Observation.rs?_sort=date',
  'system/Observation.rs?_include=Observation:subject',
  'system/Observation.rs?_summary=count',
  'system/Observation.rs?_type=Patient',
  'system/Observation.rs?_format=json',
  'system/Observation.rs?category=vital-signs&_elements=id',
  'system/*.rs?category=vital-signs',
];

t.test('client_credentials: unenforceable restrictions are invalid_scope', async (t) => {
  const space = await buildSpaceServer(t);
  const { app, system } = space;
  for (const scope of UNENFORCEABLE) {
    const res = await requestToken(app, system, scope);
    t.equal(res.statusCode, 400, scope);
    t.equal(res.json().error, 'invalid_scope', scope);
  }
  // Restrictions the policy enforces are still granted, and searches work under them.
  for (const scope of [`system/Observation.rs?category=${VITAL_SIGNS}`, 'system/Observation.rs?status=final,amended&code:missing=false', 'system/*.rs?_tag=x', 'system/Observation.rs?date=ge2020-01-01']) {
    const res = await requestToken(app, system, scope);
    t.equal(res.statusCode, 200, `${scope} is granted`);
    const search = await app.inject({ url: '/fhir/Observation', headers: { authorization: `Bearer ${res.json().access_token}` } });
    t.equal(search.statusCode, 200, `${scope}: a search works`);
  }
});

t.test('authorize: unenforceable restrictions go back to the app as invalid_scope', async (t) => {
  const { app } = await buildSpaceServer(t);
  const start = (scope: string) => app.inject({
    url: `/auth/authorize?${new URLSearchParams({
      response_type: 'code', client_id: APPS.holder, redirect_uri: 'https://app.test/callback', scope, state: 's',
      aud: app.config.fhirBase, code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
    })}`,
  });
  for (const scope of UNENFORCEABLE.map((s) => s.replace(/^system\//, 'patient/'))) {
    const res = await start(scope);
    t.equal(res.statusCode, 302, scope);
    t.equal(new URL(String(res.headers.location)).searchParams.get('error'), 'invalid_scope', scope);
  }
  t.equal((await start(`patient/Observation.rs?category=${VITAL_SIGNS}`)).statusCode, 200, 'an enforceable restriction reaches the sign-in page');
});

t.test('a token issued earlier with such a restriction is refused (401), not a 500 on every request', async (t) => {
  const { app, system } = await buildSpaceServer(t);
  const issued = await app.carnetAuth.accessTokens.issue({ clientId: system.clientId, subject: system.clientId, kind: 'system', scope: 'system/Observation.rs?subject.name=x' });
  const res = await app.inject({ url: '/fhir/Observation', headers: { authorization: `Bearer ${issued.token}` } });
  t.equal(res.statusCode, 401);
  t.match(res.headers['www-authenticate'], /invalid_token/);
});
