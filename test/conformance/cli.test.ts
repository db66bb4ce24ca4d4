import t from 'tap';
import { parseCli } from '../../conformance/cli/parse-args.js';
import { runCli } from '../../conformance/cli/run-cli.js';
import { Writable } from 'node:stream';

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

function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk, _enc, cb) {
      w.text += String(chunk);
      cb();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

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
