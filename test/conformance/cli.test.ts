import t from 'tap';
import { parseCli } from '../../conformance/cli/parse-args.js';
import { runCli } from '../../conformance/cli/run-cli.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadSpaceActorsFile } from '../../conformance/auth/space-actors.js';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { sink } from './text-sink.js';

t.test('command line: defaults and validation', async (t) => {
  const o = parseCli(['--base', 'https://fhir.example/fhir/', '--suite', 'rest,search', '--suite', 'smart']);
  t.equal(o.base, 'https://fhir.example/fhir');
  t.same(o.suites, ['rest', 'search', 'smart']);
  t.same(o.failOn, ['error']);
  t.same(parseCli(['--base', 'http://x/fhir']).suites, ['rest', 'search', 'smart', 'mhd', 'space'], 'all suites by default');
  t.same(parseCli(['--base', 'http://x/fhir', '--fail-on', 'error,warning']).failOn, ['error', 'warning']);
  t.throws(() => parseCli([]), { name: 'UsageError', message: '--base is required' });
  t.throws(() => parseCli(['--base', 'ftp://x']), { name: 'UsageError' });
  t.throws(() => parseCli(['--base', 'http://x', '--suite', 'rest,nope']), /unknown suite 'nope'/);
  t.throws(() => parseCli(['--base', 'http://x', '--fail-on', 'info']), { name: 'UsageError' });
  t.throws(() => parseCli(['--base', 'http://x', '--token', 'a', '--private-key', 'k.json']), { name: 'UsageError' });
  t.throws(() => parseCli(['--base', 'http://x', '--app-client-id', 'a']), { name: 'UsageError' });
  t.throws(() => parseCli(['--base', 'http://x', '--bogus']), { name: 'UsageError' });
  t.equal(parseCli(['--base', 'http://x']).timeoutMs, 30_000, 'a 30 s deadline per request by default');
  t.equal(parseCli(['--base', 'http://x', '--timeout', '0.5']).timeoutMs, 500);
  // Node's timers hold 32-bit milliseconds: a longer deadline would abort every request at once.
  t.throws(() => parseCli(['--base', 'http://x', '--timeout', '3000000']), { name: 'UsageError', message: '--timeout must be at most 2147483 seconds' });
});

t.test('command line: the space suite\'s actors, from options and from a file', async (t) => {
  const o = parseCli(['--base', 'http://x/fhir', '--space-patient-id', 'Patient/helene', '--space-minor-id', 'leo', '--space-representative-token', 'rep-token',
    '--space-professional-ref', 'Practitioner/dr-petit']);
  t.equal(o.spacePatientId, 'Patient/helene');
  t.equal(o.spaceMinorId, 'leo');
  t.equal(o.spaceRepresentativeToken, 'rep-token');
  t.throws(() => parseCli(['--base', 'http://x/fhir', '--space-professional-ref', 'Patient/1']), { name: 'UsageError' });
  const dir = await mkdtemp(path.join(tmpdir(), 'carnet-actors-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'actors.json');
  await writeFile(file, JSON.stringify({ patientId: 'helene', minorId: 'leo', representativeToken: 'rep-token', unknownField: 'ignored' }));
  t.same(await loadSpaceActorsFile(file), { patientId: 'helene', minorId: 'leo', representativeToken: 'rep-token' });
  await writeFile(file, JSON.stringify({ minorId: 42 }));
  await t.rejects(loadSpaceActorsFile(file), /minorId must be a non-empty string/);
});


t.test('bad usage exits 2 with the usage text; --help exits 0', async (t) => {
  const err = sink();
  const out = sink();
  const io = { stdout: out as unknown as NodeJS.WriteStream, stderr: err as unknown as NodeJS.WriteStream };
  t.equal(await runCli(['--suite', 'rest'], io), 2);
  t.match(err.text, /--base is required[\s\S]*Usage: carnet-conformance/);
  t.equal(await runCli(['--help'], io), 0);
  t.match(out.text, /Usage: carnet-conformance/);
  t.equal(await runCli(['--base', 'http://x/fhir', '--private-key', '/nonexistent/key.json'], io), 2, 'an unreadable key file stops the run');
});

t.test('a missing or malformed --private-key file: one sentence naming the file and what is wrong, exit 2, no request', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'carnet-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const write = async (name: string, content: string): Promise<string> => {
    const file = path.join(dir, name);
    await writeFile(file, content);
    return file;
  };
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg: 'ES384', kid: 'k1' };
  const cases: [string, string][] = [
    [path.join(dir, 'absent.json'), `--private-key ${path.join(dir, 'absent.json')}: no such file`],
    [dir, `--private-key ${dir} is a directory, not a key file`],
    [await write('key.pem', await exportPKCS8(privateKey)),
      `--private-key ${path.join(dir, 'key.pem')} holds a PEM key; the kit needs a private JWK (kid, alg RS384 or ES384) or { "clientId", "privateJwk" } in JSON, with the kid the server registered`],
    [await write('broken.json', '{"kty": "EC",'), `--private-key ${path.join(dir, 'broken.json')} is not JSON (`],
    [await write('null.json', 'null'), `--private-key ${path.join(dir, 'null.json')} holds no JSON object`],
    [await write('public.json', JSON.stringify({ ...(await exportJWK(publicKey)), alg: 'ES384', kid: 'k1' })),
      `--private-key ${path.join(dir, 'public.json')} holds a public JWK, not a private key (no "d")`],
    [await write('mangled.json', JSON.stringify({ clientId: 'c', privateJwk: { ...jwk, d: 'AAAA' } })),
      `--private-key ${path.join(dir, 'mangled.json')} holds a JWK that is no usable ES384 private key (`],
  ];
  for (const [file, sentence] of cases) {
    const err = sink();
    const io = { stdout: sink() as unknown as NodeJS.WriteStream, stderr: err as unknown as NodeJS.WriteStream };
    // Port 1: nothing listens, so any request would show as a connection error instead of the key's problem.
    const code = await runCli(['--base', 'http://127.0.0.1:1/fhir', '--client-id', 'c', '--private-key', file], io);
    t.equal(code, 2, `${path.basename(file)}: exit 2`);
    t.ok(err.text.startsWith(`carnet-conformance: ${sentence}`), `${path.basename(file)}: ${err.text.split('\n')[0]}`);
    t.match(err.text, /\nNo check was run\.\n$/);
    t.notMatch(err.text, /ENOENT|EISDIR|ECONNREFUSED/, 'no raw error code, and no request was sent');
  }
});
