import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { requestBackendToken } from '../../conformance/auth/backend-services.js';
import { formatSummary } from '../../conformance/cli/summary-table.js';
import { toTestReport } from '../../conformance/reports/test-report.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import type { Suite } from '../../conformance/runner/suite.js';
import type { AuthOptions } from '../../conformance/auth/token-source.js';
import type { CheckResult, RunResult, SuiteId } from '../../conformance/runner/types.js';
import { selectSuites } from '../../conformance/suites/index.js';
import { startFaultProxy } from './fault-proxy.js';
import type { Fault } from './fault-proxy.js';
import { startServer } from './server-process.js';

/**
 * How the kit judges unusual but possible answers: a server that returns no
 * meta.versionId, one that forgets deleted resources (404) or keeps serving
 * them, a SMART configuration missing required fields, and an open server whose
 * `.well-known/smart-configuration` is a catch-all JSON answer. The real server
 * behind the fault proxy, and a small fake for the open server.
 */

const server = await startServer();
t.teardown(() => server.stop());
const auth: AuthOptions = { kind: 'backend', ...server.devClient };
const privilegedToken = async (): Promise<string> =>
  (await requestBackendToken({ tokenEndpoint: `${server.url}/auth/token`, clientId: server.devClient.clientId, jwk: server.devClient.privateJwk, scope: 'system/*.cruds' })).access_token;

function only(ids: string[]): Suite[] {
  const suites = [...new Set(ids.map((id) => id.split('.')[0] as SuiteId))];
  return selectSuites(suites).map((s) => ({ ...s, checks: s.checks.filter((c) => ids.includes(c.id)) }));
}

function byId(run: RunResult): Map<string, CheckResult> {
  return new Map(run.suites.flatMap((s) => s.checks).map((c) => [c.id, c]));
}

async function behind(t: Test, fault: Fault, ids: string[], runAuth: AuthOptions = auth): Promise<RunResult> {
  const proxy = await startFaultProxy({ target: server.url, fault, privilegedToken });
  t.teardown(() => proxy.close());
  return runConformance({ base: `${proxy.origin}/fhir`, suites: only(ids), auth: runAuth });
}

t.test('a server returning no meta.versionId: the checks say so, and send no "undefined" version', async (t) => {
  const ids = ['rest.read.current', 'rest.read.etag', 'rest.update.new-version', 'rest.vread.versions', 'rest.update.if-match-stale', 'rest.history.paging'];
  const run = await behind(t, 'drop-version-id', ids);
  const results = byId(run);
  for (const id of ids) {
    const r = results.get(id);
    t.equal(r?.outcome, 'failed', `${id} fails`);
    t.match(r?.message, /: the server returned no meta\.versionId \(Patient\/[\w.-]+\), so versions cannot be checked$/, `${id} says why: ${r?.message}`);
    t.notMatch(r?.message, /undefined/, `${id}'s message names no "undefined"`);
    const sent = r?.exchanges.map((e) => `${e.request.url} ${e.request.headers['if-match'] ?? ''}`).join('\n') ?? '';
    t.notMatch(sent, /undefined/, `${id} sent no request naming version "undefined"`);
  }
  t.notMatch(formatSummary(run), /undefined/, 'the summary printed to the integrator names no "undefined"');
});

t.test('read after delete: 404 passes with a note that 410 is expected from a server keeping history; a 200 still fails', async (t) => {
  const forgetting = await behind(t, 'gone-as-404', ['rest.delete.gone']);
  const gone = byId(forgetting).get('rest.delete.gone');
  t.equal(gone?.outcome, 'passed', `404 after delete is allowed: ${gone?.message ?? ''}`);
  const assert = toTestReport(forgetting, forgetting.suites[0]!).test?.[0]?.action?.[0]?.assert;
  t.equal(assert?.result, 'pass');
  t.match(assert?.message, /answered 404: allowed for a server that does not track deleted resources; a server that keeps their history should answer 410 Gone/,
    'the TestReport tells the integrator 410 is what a server keeping history answers');

  const kept = await behind(t, 'delete-ignored', ['rest.delete.gone']);
  const stillThere = byId(kept).get('rest.delete.gone');
  t.equal(stillThere?.outcome, 'failed', 'a resource still read after its delete fails');
  t.match(stillThere?.message, /read after delete: expected HTTP 410 or 404, got 200/);
});

t.test('a SMART configuration missing required fields: the discovery check names every one', async (t) => {
  const run = await behind(t, 'smart-config-partial', ['smart.discovery.required-fields']);
  const r = byId(run).get('smart.discovery.required-fields');
  t.equal(r?.outcome, 'failed');
  t.equal(r?.message, 'smart-configuration: missing required fields: grant_types_supported, capabilities, code_challenge_methods_supported');
});

/** An open FHIR server (no security declared) whose every unknown path answers 200 {"status":"ok"}. */
async function startCatchAllServer(t: Test): Promise<string> {
  const send = (res: ServerResponse, status: number, body: unknown, type = 'application/fhir+json'): void => {
    res.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));
  };
  const fake = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    if (path === '/fhir/metadata') {
      return send(res, 200, {
        resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1', format: ['json'], date: '2025-01-01',
        rest: [{ mode: 'server', resource: [{ type: 'Patient', interaction: [{ code: 'read' }] }, { type: 'Observation', interaction: [{ code: 'read' }, { code: 'search-type' }] }] }],
      });
    }
    if (path.startsWith('/fhir/Patient/')) return send(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    if (path === '/fhir/Observation') return send(res, 200, { resourceType: 'Bundle', type: 'searchset', total: 0 });
    return send(res, 200, { status: 'ok' }, 'application/json');
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => fake.close(() => resolve())));
  return `http://127.0.0.1:${(fake.address() as AddressInfo).port}/fhir`;
}

t.test('a catch-all JSON at .well-known/smart-configuration is no SMART configuration: an open server stays open', async (t) => {
  const base = await startCatchAllServer(t);
  const run = await runConformance({ base, suites: only(['rest.read.unknown', 'smart.discovery.required-fields', 'smart.scopes.no-token']), auth: { kind: 'none' } });
  const results = byId(run);
  const read = results.get('rest.read.unknown');
  t.equal(read?.outcome, 'passed', `requests need no token on an open server: ${read?.message ?? ''}`);
  const discovery = results.get('smart.discovery.required-fields');
  t.equal(discovery?.outcome, 'skipped');
  t.equal(discovery?.message,
    'the server declares no SMART authorization, and the JSON at .well-known/smart-configuration is no SMART configuration (missing required fields: token_endpoint, grant_types_supported, capabilities, code_challenge_methods_supported)');
  const noToken = results.get('smart.scopes.no-token');
  t.equal(noToken?.outcome, 'skipped', `an open server is not asked for 401s: ${noToken?.message ?? ''}`);
});
