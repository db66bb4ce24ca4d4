import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import t from 'tap';
import type { Test } from 'tap';
import { runCli } from '../../conformance/cli/run-cli.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import { selectSuites } from '../../conformance/suites/index.js';
import { sink } from './text-sink.js';

/**
 * A server that drips its answers (a byte every 100 ms) never trips undici's idle
 * timers: without a whole-request deadline the kit waited for as long as the
 * server dripped. Each request now has one (`--timeout`): the check whose request
 * passes it errors, naming the URL and the deadline, and the run goes on.
 */

/** The drip lasts about 4 s, far past the deadlines below: a kit without a deadline gets the whole answer in the end. */
const DRIP_BYTES = 40;

interface Drip {
  base: string;
  origin: string;
  /** Which answers drip: reads of a Patient, the token endpoint, or metadata. */
  slow: Set<'read' | 'token' | 'metadata'>;
}

/** An open FHIR server with a token endpoint, whose chosen answers come slowly: whitespace, then the JSON. */
async function startDrippingServer(t: Test): Promise<Drip> {
  const drip: Drip = { base: '', origin: '', slow: new Set() };
  const send = (res: ServerResponse, status: number, body: unknown, slow: boolean, type = 'application/fhir+json'): void => {
    res.writeHead(status, { 'content-type': type });
    if (!slow) return void res.end(JSON.stringify(body));
    let sent = 0;
    // JSON allows leading whitespace: the answer stays valid, it only takes long.
    const timer = setInterval(() => {
      if (++sent < DRIP_BYTES) return void res.write(' ');
      clearInterval(timer);
      res.end(JSON.stringify(body));
    }, 100);
    res.on('close', () => clearInterval(timer));
  };
  const server = createServer((req, res) => {
    req.resume();
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    if (path === '/fhir/metadata') {
      return send(res, 200, {
        resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1', format: ['json'], date: '2025-01-01',
        rest: [{
          mode: 'server',
          // Secured only where the token endpoint is under test; otherwise open, so that checks need no credentials.
          ...(drip.slow.has('token')
            ? { security: { extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: `${drip.origin}/auth/token` }] }] } }
            : {}),
          resource: [{ type: 'Patient', interaction: [{ code: 'read' }] }],
        }],
      }, drip.slow.has('metadata'));
    }
    if (path === '/auth/token') {
      return send(res, 200, { access_token: 'opaque-token', token_type: 'Bearer', expires_in: 300, scope: 'system/*.cruds' }, drip.slow.has('token'), 'application/json');
    }
    if (path.startsWith('/fhir/Patient/')) {
      return send(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] }, drip.slow.has('read'));
    }
    return send(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] }, false);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  drip.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  drip.base = `${drip.origin}/fhir`;
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return drip;
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await runCli(args, { stdout: out as unknown as NodeJS.WriteStream, stderr: err as unknown as NodeJS.WriteStream });
  return { code, out: out.text, err: err.text };
}

function restChecks(ids: string[]) {
  return selectSuites(['rest']).map((s) => ({ ...s, checks: ids.map((id) => s.checks.find((c) => c.id === id)!) }));
}

t.test('a read dripping past the deadline errors naming the URL and the deadline; the run goes on', async (t) => {
  const drip = await startDrippingServer(t);
  drip.slow.add('read');
  const run = await runConformance({
    base: drip.base, auth: { kind: 'none' }, timeoutMs: 500,
    suites: restChecks(['rest.read.unknown', 'rest.capabilities.metadata']),
  });
  const [read, metadata] = run.suites[0]!.checks;
  t.equal(read?.outcome, 'errored', 'the check whose request passed the deadline could not complete');
  t.match(read?.message, new RegExp(`^GET ${drip.base}/Patient/unknown-[\\w.-]+ could not complete: no complete answer within the 0\\.5 s deadline \\(--timeout\\)$`));
  t.match(read?.exchanges[0]?.error, /0\.5 s deadline/, 'the exchange records why it has no response');
  t.equal(metadata?.outcome, 'passed', 'the next check still ran');
});

t.test('from the command line: --timeout bounds each whole request; the report calls it an error, exit 1', async (t) => {
  const drip = await startDrippingServer(t);
  drip.slow.add('read');
  const dir = await mkdtemp(join(tmpdir(), 'carnet-deadline-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await cli(['--base', drip.base, '--suite', 'rest', '--timeout', '0.5', '--report-dir', dir]);
  t.equal(r.code, 1, 'a SHALL check that could not complete fails the run');
  t.match(r.err, /\] ERROR rest\.read\.unknown — GET http:\/\/127\.0\.0\.1:\d+\/fhir\/Patient\/unknown-\S+ could not complete: no complete answer within the 0\.5 s deadline \(--timeout\)/);
  t.match(r.err, /\] PASS rest\.capabilities\.metadata/, 'the other checks ran');
  t.match(r.out, /Errors \(checks that could not complete\):\n {2}\[error\] rest\.read\.unknown: GET .* could not complete: no complete answer within the 0\.5 s deadline/);
  const junit = await readFile(join(dir, 'junit.xml'), 'utf8');
  t.match(junit, /<testsuite name="rest" tests="\d+" failures="\d+" errors="1"/);
  t.match(junit, /<error message="GET http:\/\/127\.0\.0\.1:\d+\/fhir\/Patient\/unknown-[^"]+ could not complete: no complete answer within the 0\.5 s deadline \(--timeout\)" type="error">/);
  const report = JSON.parse(await readFile(join(dir, 'TestReport-rest.json'), 'utf8')) as { result: string; test: { name: string; action: { assert: { result: string } }[] }[] };
  t.equal(report.test.find((x) => x.name === 'rest.read.unknown')?.action[0]?.assert.result, 'error');
  t.equal(report.result, 'fail');
});

t.test('a token endpoint dripping past the deadline stops the run before any check, exit 2', async (t) => {
  const drip = await startDrippingServer(t);
  drip.slow.add('token');
  const dir = await mkdtemp(join(tmpdir(), 'carnet-deadline-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { privateKey } = await generateKeyPair('ES384', { extractable: true });
  const key = join(dir, 'key.json');
  await writeFile(key, JSON.stringify({ clientId: 'my-client', privateJwk: { ...(await exportJWK(privateKey)), alg: 'ES384', kid: 'k1' } }));
  const r = await cli(['--base', drip.base, '--suite', 'rest', '--timeout', '0.5', '--private-key', key]);
  t.equal(r.code, 2);
  t.match(r.err, new RegExp(`cannot get an access token \\(scope [^)]+\\) from ${drip.origin}/auth/token: POST ${drip.origin}/auth/token could not complete: no complete answer within the 0\\.5 s deadline`));
});

t.test('a metadata dripping past the deadline: the base cannot be judged, exit 2', async (t) => {
  const drip = await startDrippingServer(t);
  drip.slow.add('metadata');
  const r = await cli(['--base', drip.base, '--suite', 'rest', '--timeout', '0.5']);
  t.equal(r.code, 2);
  t.match(r.err, `carnet-conformance: cannot reach ${drip.base}: no complete answer within the 0.5 s deadline (--timeout) (GET ${drip.base}/metadata)`);
});
