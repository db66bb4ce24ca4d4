import t from 'tap';
import type { Test } from 'tap';
import { UnauthorizedError } from '../../src/errors.js';
import { AccessTokens } from '../../src/auth/access-tokens.js';
import { ServerKeys } from '../../src/auth/keys.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import type { KeyValueStore } from '../../src/store/engine.js';
import { tempDir } from '../helpers/tokens.js';

/**
 * The protected routes' hook skips every promise for a token verified before
 * (AccessTokens.knownPrincipal); these check that this shortcut never lets
 * through what `verify` would refuse.
 */
const config = { publicUrl: 'http://carnet.test', fhirBase: 'http://carnet.test/fhir', accessTokenSeconds: 300 };
const input = { clientId: 'lab', subject: 'lab', kind: 'system' as const, scope: 'system/*.rs' };

async function setUp(t: Test, kvOf: (kv: KeyValueStore) => KeyValueStore = (kv) => kv) {
  const engine = createEmbeddedEngine({ dataDir: await tempDir(t, 'carnet-known-'), log: { warn: () => undefined, info: () => undefined } });
  await engine.open();
  t.teardown(() => engine.close());
  // Real time: the engine's own clock decides when a revocation entry expires.
  const clock = { now: Date.now() };
  const now = () => clock.now;
  const kv = kvOf(engine.kv);
  const tokens = new AccessTokens(config, new ServerKeys(kv, 60_000, now), now, kv);
  return { tokens, clock };
}

t.test('a token is known only once verified, and only that very token', async (t) => {
  const { tokens } = await setUp(t);
  const { token } = await tokens.issue(input);
  t.equal(tokens.knownPrincipal(token), undefined, 'never verified: not known');
  const principal = await tokens.verify(token);
  t.equal(tokens.knownPrincipal(token), principal, 'verified: known, the same caller');
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, scope: 'system/*.cruds' })).toString('base64url')}.${s}`;
  t.equal(tokens.knownPrincipal(tampered), undefined, 'a token with the same signature but another payload is not');
  await t.rejects(tokens.verify(tampered), UnauthorizedError);
});

t.test('an expired or revoked token is no longer known, and verify says why', async (t) => {
  const { tokens, clock } = await setUp(t);
  const first = await tokens.issue(input);
  const second = await tokens.issue(input);
  await tokens.verify(first.token);
  const { tokenId, expiresAt } = await tokens.verify(second.token);

  await tokens.revoke(tokenId, expiresAt);
  t.equal(tokens.knownPrincipal(second.token), undefined, 'revoked: not known');
  await t.rejects(tokens.verify(second.token), { message: 'The access token was revoked' });

  t.ok(tokens.knownPrincipal(first.token), 'the other token still is');
  clock.now += 300_000;
  t.equal(tokens.knownPrincipal(first.token), undefined, 'expired: not known');
  await t.rejects(tokens.verify(first.token), { message: 'The access token has expired' });
});

t.test('a store that cannot answer at once (no hasNow, as MongoDB) leaves every token to verify', async (t) => {
  const { tokens } = await setUp(t, (kv) => ({ ...kv, hasNow: undefined }));
  const { token } = await tokens.issue(input);
  const principal = await tokens.verify(token);
  t.equal(tokens.knownPrincipal(token), undefined, 'revocation cannot be checked without waiting');
  t.equal(await tokens.verify(token), principal, 'verify still answers from its cache');
});
