import t from 'tap';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config.js';
import { nodeArgsFor, repoRoot as root } from '../helpers/repo.js';
import { buildAuthTestApp, tempDir } from '../helpers/tokens.js';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function token(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return run(process.execPath, [...nodeArgsFor('scripts/token.ts'), ...args], { cwd: root, timeout: 30_000, env })
    .then((r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }))
    .catch((e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }));
}

t.test('without a clients file a development client is created once, and scripts/token.ts gets a token with it', async (t) => {
  const dataDir = await tempDir(t);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const { app } = await buildAuthTestApp(t, { clientsFile: null, dataDir, publicUrl: url });
  const file = path.join(dataDir, 'dev-client.json');
  t.equal((await stat(file)).mode & 0o777, 0o600, 'private key file is mode 0600');
  const dev = JSON.parse(await readFile(file, 'utf8'));
  t.match(dev, { clientId: 'carnet-dev', scope: 'system/*.cruds', alg: 'ES384', privateJwk: { kty: 'EC', crv: 'P-384', kid: String, d: String } });

  const again = await buildAuthTestApp(t, { clientsFile: null, dataDir, publicUrl: url, engine: app.engine });
  t.same(JSON.parse(await readFile(file, 'utf8')), dev, 'a later start reuses the same client');
  await again.app.close();

  await app.listen({ port, host: '127.0.0.1' });
  const ok = await token(['--scope', 'system/Observation.rs', '--url', url, '--data-dir', dataDir]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'stdout holds only the token');
  const who = await app.inject({ url: '/fhir/whoami', headers: { authorization: `Bearer ${ok.stdout.trim()}` } });
  t.match(who.json(), { clientId: 'carnet-dev', scope: 'system/Observation.rs' });

  const refused = await token(['--scope', 'patient/Observation.rs', '--url', url, '--data-dir', dataDir]);
  t.equal(refused.code, 1);
  t.equal(refused.stdout, '');
  t.match(refused.stderr, /invalid_scope/);
});

t.test('scripts/token.ts finds the server from HOST and PORT as the server does, HOST=0.0.0.0 (the Docker image) included', async (t) => {
  const dataDir = await tempDir(t);
  const port = await freePort();
  const env = { HOST: '0.0.0.0', PORT: String(port) };
  // The public URL a server started with this environment and no PUBLIC_URL takes.
  const publicUrl = loadConfig(env).publicUrl;
  const { app } = await buildAuthTestApp(t, { clientsFile: null, dataDir, publicUrl });
  await app.listen({ port, host: '0.0.0.0' });
  const { PUBLIC_URL: _ignored, ...inherited } = process.env;
  const ok = await token(['--data-dir', dataDir], { ...inherited, ...env });
  t.equal(ok.code, 0, ok.stderr);
  const who = await app.inject({ url: '/fhir/whoami', headers: { authorization: `Bearer ${ok.stdout.trim()}` } });
  t.match(who.json(), { clientId: 'carnet-dev' });
});

t.test('scripts/token.ts explains a missing dev client and a stopped server', async (t) => {
  const empty = await tempDir(t);
  const missing = await token(['--data-dir', empty]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /No development client/);

  const dataDir = await tempDir(t);
  await buildAuthTestApp(t, { clientsFile: null, dataDir });
  const down = await token(['--url', `http://127.0.0.1:${await freePort()}`, '--data-dir', dataDir]);
  t.equal(down.code, 1);
  t.match(down.stderr, /Cannot reach the server .* Is it running/);
});

t.test('a bad clients file stops the start with a clear message', async (t) => {
  const dir = await tempDir(t);
  const { engine } = await buildAuthTestApp(t, { clientsFile: null, dataDir: dir });
  const { writeFile } = await import('node:fs/promises');
  const file = path.join(dir, 'clients.json');
  await writeFile(file, JSON.stringify([{ clientId: 'x', name: 'X', kind: 'system', scope: 'system/Foo.rs' }]));
  await t.rejects(buildAuthTestApp(t, { clientsFile: file, dataDir: dir, engine }), /Invalid clients file .*clients\.json: .*unknown resource type.*needs exactly one of jwks or jwksUri|Invalid clients file .*jwks/);
  await writeFile(file, '{ not json');
  await t.rejects(buildAuthTestApp(t, { clientsFile: file, dataDir: dir, engine }), /not valid JSON/);
  await t.rejects(buildAuthTestApp(t, { clientsFile: path.join(dir, 'absent.json'), dataDir: dir, engine }), /Cannot read clients file .*ENOENT/);
});
