import t from 'tap';
import type { LightMyRequestResponse } from 'fastify';
import { APPS, buildSpace, PASSWORD } from '../helpers/people.js';
import { authorize, exchangeCode } from '../helpers/tokens.js';

/**
 * A replay of an authorization code that arrives while the first exchange is
 * still under way (the code already taken from the store, the tokens not yet
 * issued) must still revoke what that exchange issues: no window in which a
 * stolen code's replay goes unnoticed.
 */
t.test('a replay racing the first exchange revokes its tokens', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const kv = app.carnetAuth.kv;
  const { location, verifier } = await authorize(app, { clientId: APPS.holder, username: space.users.alice, password: PASSWORD, scope: 'patient/*.rs launch/patient' });
  const code = location.searchParams.get('code')!;

  // Right after the first exchange takes the code, the replay runs to its end.
  let replay: LightMyRequestResponse | undefined;
  const take = kv.take.bind(kv);
  kv.take = (async (namespace: string, key: string) => {
    const taken = await take(namespace, key);
    if (namespace === 'authorization-codes' && taken && !replay) {
      replay = await exchangeCode(app, code, verifier, APPS.holder);
    }
    return taken;
  }) as typeof kv.take;
  t.teardown(() => {
    kv.take = take;
  });

  const first = await exchangeCode(app, code, verifier, APPS.holder);
  t.ok(replay, 'the replay ran inside the first exchange');
  t.equal(replay!.statusCode, 400);
  t.equal(replay!.json().error, 'invalid_grant');
  t.match(replay!.json().error_description, /now revoked/, 'the replay is recognised as one');
  if (first.statusCode === 200) {
    const read = await app.inject({ url: `/fhir/${space.alice}`, headers: { authorization: `Bearer ${first.json().access_token}` } });
    t.equal(read.statusCode, 401, 'the tokens of the raced exchange are revoked');
  } else {
    t.equal(first.json().error, 'invalid_grant', 'the raced exchange issues nothing usable');
  }
});
