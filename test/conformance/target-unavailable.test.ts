import { access, mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../conformance/cli/run-cli.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import { selectSuites } from '../../conformance/suites/index.js';
import { startFaultProxy } from './fault-proxy.js';
import { sink } from './text-sink.js';

/**
 * A base that cannot be judged (unreachable, or no CapabilityStatement) must not
 * look conformant: the run stops with exit 2 and says why, before any check.
 */


async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await runCli(args, { stdout: out as unknown as NodeJS.WriteStream, stderr: err as unknown as NodeJS.WriteStream });
  return { code, out: out.text, err: err.text };
}

/** A port nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test('an unreachable base exits 2 naming the network error, runs no check and writes no report', async (t) => {
  const base = `http://127.0.0.1:${await closedPort()}/fhir`;
  const tmp = await mkdtemp(join(tmpdir(), 'carnet-unavailable-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const dir = join(tmp, 'report');
  const r = await cli(['--base', base, '--suite', 'search,mhd,space', '--report-dir', dir]);
  t.equal(r.code, 2, 'exit code 2: the kit could not start');
  t.match(r.err, `carnet-conformance: cannot reach ${base}: connect ECONNREFUSED`);
  t.match(r.err, /No check was run/);
  t.notMatch(r.out, /^total\s/m, 'no summary table');
  await t.rejects(access(dir), 'no report directory');
});

t.test('a base answering a web page everywhere exits 2: its metadata is no CapabilityStatement', async (t) => {
  // The real server is never asked: this fault answers every request itself.
  const proxy = await startFaultProxy({ target: 'http://127.0.0.1:1', fault: 'html-everywhere', privilegedToken: async () => '' });
  t.teardown(() => proxy.close());
  const base = `${proxy.origin}/fhir`;
  for (const suite of ['search', 'mhd', 'rest,smart,space']) {
    const r = await cli(['--base', base, '--suite', suite]);
    t.equal(r.code, 2, `--suite ${suite}: exit code 2`);
    t.match(r.err, `${base}/metadata did not return a CapabilityStatement (got text/html 200); is ${base} the FHIR base URL?`);
    t.notMatch(r.out, /passed/, 'no summary claiming passes');
  }
});

t.test('runConformance rejects with TargetUnavailable instead of returning a run', async (t) => {
  const base = `http://127.0.0.1:${await closedPort()}/fhir`;
  await t.rejects(runConformance({ base, suites: selectSuites(['search']), auth: { kind: 'none' } }), { name: 'TargetUnavailable', message: /cannot reach/ });
});

t.test('a base whose metadata redirects exits 2 with one sentence naming the URL, where it leads and the base to give', async (t) => {
  const server = createHttpServer((req, res) => {
    // As a server moved to https, or behind a proxy adding a path, answers.
    if (req.url === '/fhir/metadata') return void res.writeHead(302, { location: 'https://fhir.example.org/r4/fhir/metadata' }).end();
    if (req.url === '/bare/metadata') return void res.writeHead(301).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let r = await cli(['--base', `${origin}/fhir`, '--suite', 'rest']);
  t.equal(r.code, 2);
  t.equal(r.err.split('\n')[0],
    `carnet-conformance: ${origin}/fhir/metadata answered 302, a redirect to https://fhir.example.org/r4/fhir/metadata: the kit follows no redirects, so give the URL the server redirects to (--base https://fhir.example.org/r4/fhir)`);
  t.match(r.err, /No check was run/);

  r = await cli(['--base', `${origin}/bare`, '--suite', 'rest']);
  t.equal(r.code, 2);
  t.equal(r.err.split('\n')[0],
    `carnet-conformance: ${origin}/bare/metadata answered 301, a redirect without a Location header: the kit follows no redirects, so --base must be the FHIR base URL itself`);
});
