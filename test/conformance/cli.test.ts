import t from 'tap';
import { parseCli } from '../../conformance/cli/parse-args.js';
import { runCli } from '../../conformance/cli/run-cli.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadSpaceActorsFile } from '../../conformance/auth/space-actors.js';
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
