import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import t from 'tap';
import type { Test } from 'tap';
import { parseCli } from '../../conformance/cli/parse-args.js';
import { runCli } from '../../conformance/cli/run-cli.js';
import { writeReports } from '../../conformance/reports/write-reports.js';
import { HttpClient } from '../../conformance/runner/http-client.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import { defineSuite, fixture } from '../../conformance/runner/suite.js';
import type { Check } from '../../conformance/runner/suite.js';
import type { Exchange, RunResult } from '../../conformance/runner/types.js';
import { sampleRun } from './sample-run.js';
import { sink } from './text-sink.js';

/**
 * The runner's own behaviour, against a small fake server (no carnet server):
 * secrets redacted in reports, credentials checked once before any check, fixture
 * skips kept as skips, and operator mistakes (run id, report dir, actors file,
 * suites, token endpoint) stopping the run with exit 2 before it starts.
 */

const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/;
const ACCESS_TOKEN = 'eyJhbGciOiJFUzM4NCIsImtpZCI6ImsxIn0.eyJzdWIiOiJjbGllbnQiLCJzY29wZSI6InN5c3RlbS8qLmNydWRzIn0.c2lnbmF0dXJlLW9mLXRoZS1hY2Nlc3MtdG9rZW4';
const ASSERTION = 'eyJhbGciOiJSUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJteS1jbGllbnQiLCJzdWIiOiJteS1jbGllbnQifQ.c2lnbmF0dXJlLW9mLXRoZS1hc3NlcnRpb24';

interface Fake {
  origin: string;
  base: string;
  /** What /auth/token answers: a token, or 401 invalid_client. */
  tokenMode: 'ok' | 'invalid_client';
  requests: string[];
}

async function startFake(t: Test): Promise<Fake> {
  const fake: Fake = { origin: '', base: '', tokenMode: 'invalid_client', requests: [] };
  const json = (res: ServerResponse, status: number, body: unknown, type = 'application/fhir+json'): void => {
    res.writeHead(status, { 'content-type': type });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', fake.origin);
      fake.requests.push(`${req.method} ${url.pathname}`);
      // A connection dropped without an answer: a network error for the client.
      if (url.pathname === '/fhir/reset') return void req.socket.destroy();
      if (url.pathname === '/fhir/metadata') {
        return json(res, 200, {
          resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1', format: ['json'], date: '2025-01-01',
          rest: [{
            mode: 'server',
            security: {
              service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
              extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: `${fake.origin}/auth/token` }] }],
            },
            resource: [{ type: 'Patient', interaction: [{ code: 'read' }, { code: 'search-type' }] }],
          }],
        });
      }
      if (url.pathname === '/auth/token' && req.method === 'POST') {
        if (fake.tokenMode === 'ok') return json(res, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 300, scope: 'system/*.cruds' }, 'application/json');
        return json(res, 401, { error: 'invalid_client', error_description: 'unknown key' }, 'application/json');
      }
      if (url.pathname.startsWith('/fhir/Patient')) {
        if (req.headers.authorization === `Bearer ${ACCESS_TOKEN}` || req.headers.authorization === 'Bearer good') {
          return json(res, 200, { resourceType: 'Bundle', type: 'searchset', total: 0 });
        }
        res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
        return json(res, 401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] });
      }
      return json(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.base = `${fake.origin}/fhir`;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return fake;
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await runCli(args, { stdout: out as unknown as NodeJS.WriteStream, stderr: err as unknown as NodeJS.WriteStream });
  return { code, out: out.text, err: err.text };
}

const requirement = { id: 'test', spec: 'test', section: 'test', url: 'https://example.org/test', text: 'test' };

function testSuite(checks: Check<unknown>[]) {
  return defineSuite({ id: 'rest', title: 'test', spec: 'test', scope: () => 'system/*.cruds', createState: () => ({}), checks });
}

async function tmp(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'carnet-kit-review-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function writeKey(dir: string): Promise<string> {
  const { privateKey } = await generateKeyPair('ES384', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg: 'ES384', kid: 'not-registered' };
  const file = join(dir, 'key.json');
  await writeFile(file, JSON.stringify({ clientId: 'my-client', privateJwk: jwk }));
  return file;
}

t.test('1. tokens and credentials are redacted in every report', async (t) => {
  const fake = await startFake(t);
  fake.tokenMode = 'ok';
  const exchanges: Exchange[] = [];
  const http = new HttpClient(fake.base, (e) => exchanges.push(e), async () => ACCESS_TOKEN);
  const form = new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.cruds', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: ASSERTION });
  const res = await http.request({ method: 'POST', path: `${fake.origin}/auth/token`, body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' }, auth: 'none' });
  t.equal((res.json as { access_token: string }).access_token, ACCESS_TOKEN, 'the check itself sees the whole token');
  // Under the base: the kit sends its token to no other host (token-confinement.test.ts).
  await http.request({ method: 'POST', path: `${fake.base}/auth/introspect`, body: new URLSearchParams({ token: 'opaque-secret-token-value' }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  await http.get('Patient', { query: { code: 'http://loinc.org|1234-5' } });

  const [token, introspect, search] = exchanges;
  t.notMatch(token.request.body, JWT, 'client_assertion cut short');
  t.match(token.request.body, 'client_assertion=eyJhbGci%E2%80%A6', 'its first characters kept');
  t.match(token.request.body, 'grant_type=client_credentials', 'other form fields kept');
  t.notMatch(token.response?.body, JWT, 'access_token cut short');
  t.match(token.response?.body, '"access_token":"eyJhbGci…"');
  t.match(introspect.request.body, 'token=opaque-s%E2%80%A6', 'an opaque token cut short');
  t.equal(introspect.request.headers.authorization, 'Bearer eyJhbGci…', 'the Authorization header cut short');
  t.match(search.request.url, 'code=http%3A%2F%2Floinc.org%7C1234-5', 'a FHIR search by code is no secret');

  // And the message of a failed check quoting a token.
  const run = await runConformance({
    base: fake.base, auth: { kind: 'static', token: 'good' },
    suites: [testSuite([{ id: 'rest.x.quote', title: 'quotes a token', requirement, run: async (ctx) => ctx.fail(`got ${ACCESS_TOKEN}`) }])],
  });
  const quoted = run.suites[0].checks[0];
  t.equal(quoted.outcome, 'failed');
  t.notMatch(quoted.message, JWT);

  const sample: RunResult = sampleRun();
  sample.suites[0].checks[1].exchanges.push(...exchanges);
  sample.suites[0].checks.push(quoted);
  const dir = await tmp(t);
  await writeReports(sample, dir);
  const files = await readdir(dir);
  t.ok(files.includes('report.html') && files.includes('junit.xml'));
  for (const f of files) t.notMatch(await readFile(join(dir, f), 'utf8'), JWT, `${f} holds no full JWT`);
});

t.test('2. no credentials on a secured server: checks needing a token are skipped, the others run', async (t) => {
  const fake = await startFake(t);
  const patients = fixture(async (ctx) => (await ctx.http.get('Patient')).status);
  const run = await runConformance({
    base: fake.base, auth: { kind: 'none' },
    suites: [testSuite([
      { id: 'rest.x.needs-token', title: 'needs a token', requirement, run: async (ctx) => ctx.expectStatus(await ctx.http.get('Patient'), 200, 'search') },
      { id: 'rest.x.no-token', title: '401 without token', requirement, run: async (ctx) => ctx.expectStatus(await ctx.http.get('Patient', { auth: 'none' }), 401, 'search') },
      { id: 'rest.x.fixture', title: 'fixture needing a token', requirement, run: async (ctx) => void (await patients(ctx)) },
    ])],
  });
  const [needs, none, viaFixture] = run.suites[0].checks;
  t.equal(needs.outcome, 'skipped', needs.message ?? '');
  t.match(needs.message, /^the run has no credentials .*declares OAuth\/SMART security/);
  t.equal(none.outcome, 'passed', none.message ?? '');
  t.equal(viaFixture.outcome, 'skipped', viaFixture.message ?? '');
});

t.test('2. credentials that get no accepted token stop the run before any check, exit 2', async (t) => {
  const fake = await startFake(t);
  const dir = await tmp(t);
  const key = await writeKey(dir);

  let r = await cli(['--base', fake.base, '--suite', 'rest,search', '--private-key', key]);
  t.equal(r.code, 2, 'wrong key: exit 2');
  t.match(r.err, /cannot get an access token \(scope [^)]+\) from http:\/\/127\.0\.0\.1:\d+\/auth\/token: token endpoint answered 401: .*invalid_client/);
  t.match(r.err, /No check was run/);
  t.equal(r.out, '', 'no summary');
  t.notOk(fake.requests.some((q) => q.includes('/fhir/Patient')), 'no check request was sent');
  await t.rejects(runConformance({ base: fake.base, suites: [testSuite([])], auth: { kind: 'backend', clientId: 'my-client', privateJwk: JSON.parse(await readFile(key, 'utf8')).privateJwk } }),
    { name: 'CredentialsUnusable' });

  r = await cli(['--base', fake.base, '--suite', 'rest', '--token', 'rejected']);
  t.equal(r.code, 2, 'a --token the server refuses: exit 2');
  t.match(r.err, /the server refused --token: GET http:\/\/127\.0\.0\.1:\d+\/fhir\/Patient\?_count=1 answered 401/);

  r = await cli(['--base', fake.base, '--suite', 'rest', '--private-key', key, '--token-endpoint', 'http://127.0.0.1:1/token']);
  t.equal(r.code, 2, 'an unreachable --token-endpoint: exit 2');
  t.match(r.err, /cannot get an access token .* from http:\/\/127\.0\.0\.1:1\/token: .*ECONNREFUSED/);

  r = await cli(['--base', fake.base, '--private-key', key, '--token-endpoint', 'not a url']);
  t.equal(r.code, 2, 'a malformed --token-endpoint is bad usage');
  t.match(r.err, /--token-endpoint is not a URL: not a url/);
  t.throws(() => parseCli(['--base', 'http://x/fhir', '--token-endpoint', 'ftp://x/token']), { name: 'UsageError' });

  fake.tokenMode = 'ok';
  const run = await runConformance({
    base: fake.base, auth: { kind: 'static', token: 'good' },
    suites: [testSuite([{ id: 'rest.x.read', title: 'read', requirement, run: async (ctx) => ctx.expectStatus(await ctx.http.get('Patient'), 200, 'search') }])],
  });
  t.equal(run.suites[0].checks[0].outcome, 'passed', 'an accepted --token runs the checks');
});

t.test('3. a fixture that cannot be prepared on this server is skipped, not failed', async (t) => {
  const fake = await startFake(t);
  const undeclared = fixture(async (ctx) => ctx.requireInteraction('Observation', 'create'));
  const broken = fixture(async (ctx) => ctx.fail('the server broke it'));
  const run = await runConformance({
    base: fake.base, auth: { kind: 'static', token: 'good' },
    suites: [testSuite([
      { id: 'rest.x.first', title: 'first user', requirement, run: async (ctx) => undeclared(ctx) },
      { id: 'rest.x.second', title: 'second user', requirement, run: async (ctx) => undeclared(ctx) },
      { id: 'rest.x.broken', title: 'broken fixture', requirement, run: async (ctx) => broken(ctx) },
    ])],
  });
  const [first, second, failed] = run.suites[0].checks;
  for (const c of [first, second]) {
    t.equal(c.outcome, 'skipped', c.id);
    t.equal(c.message, "not declared in the CapabilityStatement: Observation interaction 'create'");
  }
  t.equal(failed.outcome, 'failed', 'a fixture the server broke still fails');
  t.match(failed.message, /fixture could not be prepared .*the server broke it/);
});

t.test('4. --run-id must make valid FHIR ids', async (t) => {
  t.equal(parseCli(['--base', 'http://x/fhir', '--run-id', 'ci-42.a']).runId, 'ci-42.a');
  for (const bad of ['with_underscore', 'x'.repeat(21), 'a b', 'é']) {
    t.throws(() => parseCli(['--base', 'http://x/fhir', '--run-id', bad]), { name: 'UsageError', message: /--run-id must be 1 to 20 letters, digits, '-' or '\.'/ }, bad);
  }
  const r = await cli(['--base', 'http://127.0.0.1:1/fhir', '--run-id', 'my_run']);
  t.equal(r.code, 2);
  t.match(r.err, /--run-id must be/);
});

t.test('5. an unusable --report-dir stops the run before any check, exit 2', async (t) => {
  const fake = await startFake(t);
  const dir = await tmp(t);
  const file = join(dir, 'a-file');
  await writeFile(file, 'x');
  const r = await cli(['--base', fake.base, '--suite', 'smart', '--report-dir', join(file, 'report')]);
  t.equal(r.code, 2);
  t.match(r.err, `carnet-conformance: --report-dir ${join(file, 'report')} cannot be used: ${file} is not a directory`);
  t.match(r.err, /No check was run/);
  t.same(fake.requests, [], 'not even metadata was read');
  t.equal(r.out, '');
});

t.test('6. an unknown key in --space-actors, or no suite, is bad usage', async (t) => {
  const fake = await startFake(t);
  const dir = await tmp(t);
  const file = join(dir, 'actors.json');
  await writeFile(file, JSON.stringify({ patientId: 'helene', patientTokn: 'typo' }));
  const r = await cli(['--base', fake.base, '--suite', 'space', '--space-actors', file]);
  t.equal(r.code, 2);
  t.match(r.err, `--space-actors ${file}: unknown key 'patientTokn' (known: patientId, patientToken,`);
  t.same(fake.requests, [], 'no request sent');

  t.throws(() => parseCli(['--base', 'http://x/fhir', '--suite', '']), { name: 'UsageError', message: /--suite names no suite/ });
  t.throws(() => parseCli(['--base', 'http://x/fhir', '--suite', ',']), { name: 'UsageError' });
  const empty = await cli(['--base', fake.base, '--suite', '']);
  t.equal(empty.code, 2);
});

t.test('7. a check left without a verdict errors (a dropped connection, an exception in the kit); a failure stays a failure', async (t) => {
  const fake = await startFake(t);
  const dropped = fixture(async (ctx) => (await ctx.http.get('reset')).status);
  const run = await runConformance({
    base: fake.base, auth: { kind: 'static', token: 'good' },
    suites: [testSuite([
      { id: 'rest.x.reset', title: 'connection dropped', requirement, run: async (ctx) => void (await ctx.http.get('reset')) },
      { id: 'rest.x.bug', title: 'kit exception', requirement, run: async () => void (undefined as unknown as { id: string }).id },
      { id: 'rest.x.fixture', title: 'fixture whose request got no answer', requirement, run: async (ctx) => void (await dropped(ctx)) },
      { id: 'rest.x.verdict', title: 'a verdict', requirement, run: async (ctx) => ctx.expectStatus(await ctx.http.get('Patient', { auth: 'none' }), 200, 'search') },
    ])],
  });
  const [reset, bug, viaFixture, verdict] = run.suites[0].checks;
  t.equal(reset.outcome, 'errored', 'no answer: no verdict');
  t.match(reset.message, new RegExp(`^GET ${fake.base}/reset could not complete: \\S`));
  t.equal(bug.outcome, 'errored');
  t.match(bug.message, /^the check could not complete: TypeError: Cannot read properties of undefined/);
  t.equal(viaFixture.outcome, 'errored');
  t.match(viaFixture.message, /fixture could not be prepared .*could not complete/);
  t.equal(verdict.outcome, 'failed', 'an answer the requirement refuses is still a failure');
  t.match(verdict.message, /search: expected HTTP 200, got 401/);
});
