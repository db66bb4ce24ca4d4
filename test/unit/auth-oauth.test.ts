import t from 'tap';
import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { validateClients } from '../../src/auth/clients.js';
import { ServerKeys } from '../../src/auth/keys.js';
import { isS256Challenge, verifyPkce } from '../../src/auth/oauth/pkce.js';
import { SignInLimiter } from '../../src/auth/oauth/sign-in-limiter.js';
import { describeScope } from '../../src/auth/oauth/scope-descriptions.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import { tempDir } from '../helpers/tokens.js';

async function openEngine(t: Parameters<typeof tempDir>[0], now: () => number) {
  const engine = createEmbeddedEngine({ dataDir: await tempDir(t), now });
  await engine.open();
  t.teardown(() => engine.close());
  return engine;
}

t.test('PKCE S256', async (t) => {
  const verifier = 'a'.repeat(20) + '-._~' + 'Z9'.repeat(10);
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  t.ok(isS256Challenge(challenge));
  t.ok(verifyPkce(verifier, challenge));
  t.notOk(verifyPkce(verifier + 'x', challenge));
  t.notOk(verifyPkce(undefined, challenge));
  t.notOk(verifyPkce('', challenge));
  t.notOk(verifyPkce(challenge, challenge), 'the plain method (verifier = challenge) fails');
  t.notOk(verifyPkce('short', createHash('sha256').update('short').digest('base64url')), 'a verifier under 43 characters is refused');
  t.notOk(verifyPkce('é'.repeat(50), challenge));
  t.notOk(isS256Challenge('plain-text-challenge'));
});

t.test('sign-in limits per account and per address, reset after the window', async (t) => {
  let now = 1_000_000;
  const engine = await openEngine(t, () => now);
  const limiter = new SignInLimiter(engine.kv, { perAccount: 2, perAddress: 3, windowMs: 60_000 }, () => now);
  t.equal(await limiter.retryAfter('alice', '10.0.0.1'), 0);
  await limiter.recordFailure('alice', '10.0.0.1');
  await limiter.recordFailure('alice', '10.0.0.1');
  t.equal(await limiter.retryAfter('alice', '10.0.0.2'), 60, 'the account is locked from any address');
  t.equal(await limiter.retryAfter('bob', '10.0.0.1'), 0);
  await limiter.recordFailure('bob', '10.0.0.1');
  t.equal(await limiter.retryAfter('carol', '10.0.0.1'), 60, 'the address is locked for every account');
  now += 60_001;
  t.equal(await limiter.retryAfter('alice', '10.0.0.1'), 0, 'the window has passed');
  await limiter.recordFailure('dave', '10.0.0.9');
  await limiter.recordSuccess('dave');
  await limiter.recordFailure('dave', '10.0.0.9');
  t.equal(await limiter.retryAfter('dave', '10.0.0.8'), 0, 'a success clears the account count');
});

t.test('server keys: newest signs, every key published, another instance sees a rotation', async (t) => {
  let now = Date.now();
  const engine = await openEngine(t, () => now);
  const one = new ServerKeys(engine.kv, 60_000, () => now);
  const first = await one.signingKey();
  const two = new ServerKeys(engine.kv, 60_000, () => now);
  t.equal((await two.signingKey()).kid, first.kid, 'a second instance reuses the stored key');
  now += 1;
  const rotated = await one.rotate();
  t.not(rotated.kid, first.kid);
  t.equal((await one.signingKey()).kid, rotated.kid);
  t.same((await one.publicJwks()).keys.map((k) => k.kid), [rotated.kid, first.kid]);
  t.ok(await two.publicKey(rotated.kid), 'an unknown kid is looked up in the store');
  t.equal(await two.publicKey('no-such-kid'), undefined);
  now += 60_001;
  t.equal((await two.signingKey()).kid, rotated.kid, 'after the refresh the other instance signs with the new key');
  t.notOk((await one.publicJwks()).keys.some((k) => 'd' in k));
});

t.test('clients file validation lists every problem', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const pub = await exportJWK(publicKey);
  const priv = await exportJWK(privateKey);
  t.doesNotThrow(() => validateClients([{ clientId: 'a', name: 'A', kind: 'system', scope: 'system/*.rs', jwks: { keys: [pub] } }], 'f'));
  const bad = [
    { clientId: 'a', name: 'A', kind: 'system', scope: 'system/*.rs', jwks: { keys: [priv] } },
    { clientId: 'a', name: 'A2', kind: 'system', scope: 'system/*.rs', jwksUri: 'https://x.test/jwks' },
    { clientId: 'b', name: 'B', kind: 'app', scope: 'patient/*.rs', tokenEndpointAuthMethod: 'none' },
    { clientId: 'c', name: 'C', kind: 'system', scope: 'system/*.rs', tokenEndpointAuthMethod: 'client_secret_basic' },
  ];
  t.throws(() => validateClients(bad, 'clients.json'), {
    message: /clients\.json: .*\/0\/jwks\/keys\/0 holds private.*\/1\/clientId "a" is registered twice.*\/2 an app client needs redirectUris.*\/3 uses client_secret_basic but has no clientSecretHash/,
  });
  t.throws(() => validateClients([{ clientId: 'x y', name: 'X', kind: 'robot', scope: 's' }], 'f'), /Invalid clients file f: .*clientId.*kind/);
});

t.test('scope descriptions in French and English', async (t) => {
  t.same(describeScope('patient/Observation.rs'), {
    fr: 'Lire et rechercher les données Observation du patient choisi',
    en: 'Read and search Observation data of the selected patient',
  });
  t.match(describeScope('user/*.cud'), { fr: /^Créer, modifier et supprimer toutes les données auxquelles vous avez accès$/, en: /^Create, update and delete all data you have access to$/ });
  t.match(describeScope('offline_access'), { fr: /révocation/, en: /revoke/ });
});
