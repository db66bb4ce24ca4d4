import t from 'tap';
import { argon2id } from 'hash-wasm';
import { randomBytes } from 'node:crypto';
import { AccountStore } from '../../src/auth/oauth/accounts.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import { tempDir } from '../helpers/tokens.js';

const PASSWORD = 'a long enough password';

async function accountStore(t: Parameters<typeof tempDir>[0]): Promise<AccountStore> {
  const engine = createEmbeddedEngine({ dataDir: await tempDir(t) });
  await engine.open();
  t.teardown(() => engine.close());
  return new AccountStore(engine.kv);
}

t.test('a password is kept as an argon2id hash at OWASP\'s baseline, and checked against it', async (t) => {
  const accounts = await accountStore(t);
  const created = await accounts.create({ username: 'Ines', password: PASSWORD, kind: 'patient', fhirUser: 'Patient/ines' });
  t.match(created.passwordHash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  t.notMatch(JSON.stringify(created), /a long enough password/, 'the password itself is kept nowhere');
  t.equal((await accounts.checkPassword('ines', PASSWORD))?.id, created.id, 'the username matches whatever its case');
  t.equal(await accounts.checkPassword('ines', `${PASSWORD}!`), undefined);
  t.equal(await accounts.checkPassword('nobody', PASSWORD), undefined);
  await t.rejects(accounts.create({ username: 'short', password: 'too short', kind: 'patient' }), /at least 12 characters/);
});

t.test('an account moved from another system keeps its argon2id hash, with that hash\'s own parameters', async (t) => {
  const accounts = await accountStore(t);
  const passwordHash = await argon2id({ password: PASSWORD, salt: randomBytes(16), parallelism: 1, iterations: 3, memorySize: 4096, hashLength: 32, outputType: 'encoded' });
  const created = await accounts.create({ username: 'moved', passwordHash, kind: 'practitioner', fhirUser: 'Practitioner/p1' });
  t.equal(created.passwordHash, passwordHash, 'stored as given');
  t.equal((await accounts.checkPassword('moved', PASSWORD))?.id, created.id, 'the person signs in with the password they had');
  t.equal(await accounts.checkPassword('moved', 'another long password'), undefined);
  for (const wrong of ['a long enough password', '$2b$12$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz0123', '$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA']) {
    await t.rejects(accounts.create({ username: `w${wrong.length}`, passwordHash: wrong, kind: 'patient' }), /argon2id PHC string/, `refused: ${wrong.slice(0, 12)}`);
  }
});
