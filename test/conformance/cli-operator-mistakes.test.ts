import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { parseCli } from '../../conformance/cli/parse-args.js';
import { runCli } from '../../conformance/cli/run-cli.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import { defineSuite } from '../../conformance/runner/suite.js';
import { sendWithDeadline } from '../../conformance/runner/timed-request.js';
import { startFakeFhir } from './fake-fhir.js';
import { sink } from './text-sink.js';

/** Operator mistakes and odd option values: told before any request, never taken for the server's fault. */

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await runCli(args, { stdout: out as unknown as NodeJS.WriteStream, stderr: err as unknown as NodeJS.WriteStream });
  return { code, out: out.text, err: err.text };
}

async function tmp(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'carnet-cli-mistakes-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const requirement = { id: 'test', spec: 'test', section: 'test', url: 'https://example.org/test', text: 'test' };

t.test('--timeout in fractions of a millisecond is rounded to whole milliseconds; one that rounds to 0 is a usage error', async (t) => {
  t.equal(parseCli(['--base', 'http://x', '--timeout', '2.01']).timeoutMs, 2010);
  t.equal(parseCli(['--base', 'http://x', '--timeout', '1.005']).timeoutMs, 1005);
  t.throws(() => parseCli(['--base', 'http://x', '--timeout', '0.0001']), { name: 'UsageError', message: '--timeout must be at least 0.001 seconds (1 ms): 0.0001' });
  t.equal((await cli(['--base', 'http://127.0.0.1:1/fhir', '--timeout', '0.0004'])).code, 2);

  // A programmatic caller's fractional deadline reaches the timers whole, and the server is asked.
  const server = await startFakeFhir(t);
  const res = await sendWithDeadline(`${server.base}/metadata`, { method: 'GET', headers: {} }, 2.01 * 1000);
  t.equal(res.status, 200, 'no "delay is out of range" from the kit');
  const run = await runConformance({
    base: server.base, timeoutMs: 1.005 * 1000, auth: { kind: 'static', token: 't' },
    suites: [defineSuite({ id: 'rest', title: 't', spec: 't', scope: () => 's', createState: () => ({}), checks: [{ id: 'rest.x.read', title: 'x', requirement, run: async (ctx) => void (await ctx.http.get('Patient')) }] })],
  });
  t.equal(run.suites[0]?.checks[0]?.outcome, 'passed', 'the server is reachable, and said so');
});

t.test('--fail-on naming no severity is a usage error, like --suite naming no suite', async (t) => {
  for (const value of ['', ',', ' ']) {
    t.throws(() => parseCli(['--base', 'http://x', '--fail-on', value]), { name: 'UsageError', message: '--fail-on names no severity (known: error, warning)' }, JSON.stringify(value));
    const { code, err } = await cli(['--base', 'http://127.0.0.1:1/fhir', '--fail-on', value]);
    t.equal(code, 2);
    t.match(err, /--fail-on names no severity/);
  }
});

t.test('--report-dir: a report file in the way stops the run before any request', async (t) => {
  const server = await startFakeFhir(t);
  const dir = await tmp(t);
  for (const name of ['junit.xml', 'report.html', 'TestReport-rest.json']) {
    await mkdir(path.join(dir, name));
    const { code, err } = await cli(['--base', server.base, '--token', 't', '--suite', 'rest', '--report-dir', dir]);
    t.equal(code, 2, name);
    t.equal(err, `carnet-conformance: --report-dir ${dir} cannot be used: ${path.join(dir, name)} is in the way (a directory), where the report must be written\nNo check was run.\n`);
    t.equal(server.requests.length, 0, `${name}: no request was sent`);
    await rm(path.join(dir, name), { recursive: true });
  }
  await mkdir(path.join(dir, 'TestReport-mhd.json'));
  const { code } = await cli(['--base', 'http://127.0.0.1:1/fhir', '--suite', 'rest', '--report-dir', dir]);
  t.equal(code, 2, 'the run goes on to the server (unreachable here): a suite not chosen writes no file');
});

t.test('a --base missing its FHIR path, answered by a JSON 404, gets the hint', async (t) => {
  const server = await startFakeFhir(t);
  const { code, err } = await cli(['--base', server.origin]);
  t.equal(code, 2);
  t.match(err, `${server.origin}/metadata did not return a CapabilityStatement (got application/fhir+json 404, an OperationOutcome); is ${server.origin} the FHIR base URL?`);
});

t.test('a missing or unreadable --space-actors file: one sentence, as for --private-key', async (t) => {
  const dir = await tmp(t);
  const absent = path.join(dir, 'absent.json');
  for (const [file, sentence] of [[absent, `--space-actors ${absent}: no such file`], [dir, `--space-actors ${dir} is a directory, not an actors file`]] as const) {
    const { code, err } = await cli(['--base', 'http://127.0.0.1:1/fhir', '--space-actors', file]);
    t.equal(code, 2);
    t.equal(err, `carnet-conformance: ${sentence}\nNo check was run.\n`);
  }
});
