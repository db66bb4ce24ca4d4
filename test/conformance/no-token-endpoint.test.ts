import { join } from 'node:path';
import t from 'tap';
import { requestBackendToken } from '../../conformance/auth/backend-services.js';
import { runCli } from '../../conformance/cli/run-cli.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import type { CheckResult, SuiteId } from '../../conformance/runner/types.js';
import { selectSuites } from '../../conformance/suites/index.js';
import { startFaultProxy } from './fault-proxy.js';
import { startServer } from './server-process.js';
import { sink } from './text-sink.js';

/**
 * A run with Backend Services credentials against a server that names no token
 * endpoint: public requests (metadata) never need a token; on an open server the
 * other requests go without one and token-only checks skip saying so; on a
 * server that declares SMART, requests needing a token fail saying why.
 */

const server = await startServer();
t.teardown(() => server.stop());
const auth = { kind: 'backend' as const, ...server.devClient };
const privilegedToken = async (): Promise<string> =>
  (await requestBackendToken({ tokenEndpoint: `${server.url}/auth/token`, clientId: server.devClient.clientId, jwk: server.devClient.privateJwk, scope: 'system/*.cruds' })).access_token;

const CHECKS = ['rest.capabilities.metadata', 'rest.content.format-param', 'rest.content.not-acceptable', 'rest.read.current', 'smart.backend.token-response', 'smart.scopes.read-outside-scope'];

async function runChecks(base: string): Promise<Map<string, CheckResult>> {
  const suites = selectSuites(['rest', 'smart'] as SuiteId[]).map((s) => ({ ...s, checks: s.checks.filter((c) => CHECKS.includes(c.id)) }));
  const run = await runConformance({ base, suites, auth });
  return new Map(run.suites.flatMap((s) => s.checks).map((c) => [c.id, c]));
}


t.test('an open server (no security declared, no token endpoint) is tested without a token', async (t) => {
  const proxy = await startFaultProxy({ target: server.url, fault: 'no-security', privilegedToken });
  t.teardown(() => proxy.close());
  const results = await runChecks(`${proxy.origin}/fhir`);
  for (const id of ['rest.capabilities.metadata', 'rest.content.format-param', 'rest.content.not-acceptable', 'rest.read.current']) {
    const r = results.get(id);
    t.equal(r?.outcome, 'passed', `${id}${r?.message ? `: ${r.message}` : ''}`);
  }
  for (const id of ['smart.backend.token-response', 'smart.scopes.read-outside-scope']) {
    const r = results.get(id);
    t.equal(r?.outcome, 'skipped', `${id} is skipped`);
    t.match(r?.message, /^the server names no token endpoint \(neither \.well-known\/smart-configuration nor the CapabilityStatement's oauth-uris/, `${id} names the real cause`);
  }

  const out = sink();
  const err = sink();
  const code = await runCli(['--base', `${proxy.origin}/fhir`, '--suite', 'rest', '--private-key', join(server.dataDir, 'dev-client.json')],
    { stdout: out as unknown as NodeJS.WriteStream, stderr: err as unknown as NodeJS.WriteStream });
  t.equal(code, 0, `the command line exits 0 (failures: ${out.text.split('Failures:')[1] ?? 'none'})`);
  t.notMatch(out.text, /no token endpoint/, 'no failure blames a missing token endpoint');
});

t.test('a server declaring SMART without a token endpoint: metadata checks pass, token-needing checks fail saying why', async (t) => {
  const proxy = await startFaultProxy({ target: server.url, fault: 'hidden-token-endpoint', privilegedToken });
  t.teardown(() => proxy.close());
  const results = await runChecks(`${proxy.origin}/fhir`);
  for (const id of ['rest.capabilities.metadata', 'rest.content.format-param', 'rest.content.not-acceptable']) {
    const r = results.get(id);
    t.equal(r?.outcome, 'passed', `${id}${r?.message ? `: ${r.message}` : ''}`);
  }
  const read = results.get('rest.read.current');
  t.equal(read?.outcome, 'failed');
  t.match(read?.message, /cannot get an access token: the server declares OAuth\/SMART security but names no token endpoint/);
  const token = results.get('smart.backend.token-response');
  t.equal(token?.outcome, 'skipped');
  t.match(token?.message, /^the server names no token endpoint/);
});
