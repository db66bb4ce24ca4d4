import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { requestBackendToken } from '../../conformance/auth/backend-services.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import type { Suite } from '../../conformance/runner/suite.js';
import type { CheckResult, RunResult, SuiteId } from '../../conformance/runner/types.js';
import { selectSuites } from '../../conformance/suites/index.js';
import { startFaultProxy } from './fault-proxy.js';
import type { Fault } from './fault-proxy.js';
import { startServer } from './server-process.js';
import { nodeArgsFor, repoRoot } from '../helpers/repo.js';

/**
 * The kit against the real server (it must pass what the server implements)
 * and against the same server behind a fault-injecting proxy (it must fail the
 * check that covers each fault).
 */

const server = await startServer();
t.teardown(() => server.stop());
const auth = { kind: 'backend' as const, ...server.devClient };
const tokenEndpoint = `${server.url}/auth/token`;
const privilegedToken = async (): Promise<string> =>
  (await requestBackendToken({ tokenEndpoint, clientId: server.devClient.clientId, jwk: server.devClient.privateJwk, scope: 'system/*.cruds' })).access_token;

function only(ids: string[]): Suite[] {
  const suites = [...new Set(ids.map((id) => id.split('.')[0] as SuiteId))];
  return selectSuites(suites).map((s) => ({ ...s, checks: s.checks.filter((c) => ids.includes(c.id)) }));
}

function byId(run: RunResult): Map<string, CheckResult> {
  return new Map(run.suites.flatMap((s) => s.checks).map((c) => [c.id, c]));
}

/** Checks whose features the server has today: the kit must pass them. */
const MUST_PASS = [
  'rest.capabilities.metadata', 'rest.read.current', 'rest.read.etag', 'rest.read.unknown', 'rest.create.location', 'rest.create.ignores-id',
  'rest.update.new-version', 'rest.vread.versions', 'rest.delete.gone', 'rest.history.instance', 'rest.history.paging',
  'rest.conditional-create.no-match', 'rest.conditional-create.one-match', 'rest.conditional-create.many-matches',
  'rest.content.not-acceptable', 'rest.content.unsupported-media-type', 'rest.security.search-without-token', 'rest.security.read-without-token',
  'rest.security.bad-token', 'rest.security.wrong-key-token', 'search.patient.common.last-updated-none',
  'search.patient.string.prefix', 'search.patient.string.accents', 'search.patient.string.exact', 'search.patient.token.system-code',
  'search.patient.date.year', 'search.observation.token.codeable-concept', 'search.observation.date.ge', 'search.observation.quantity.gt',
  'search.observation.reference.patient-bare-id', 'search.post.equals-get', 'search.reference.bare-equals-typed', 'search.paging.next-links',
  'smart.backend.token-response', 'smart.backend.bad-signature', 'smart.backend.wrong-aud', 'smart.backend.expired', 'smart.backend.exp-too-far',
  'smart.backend.iss-not-sub', 'smart.backend.replayed-jti', 'smart.scopes.no-token', 'smart.scopes.read-outside-scope', 'smart.scopes.write-outside-scope',
];

t.test('against the real server the kit passes what exists and never passes what is not declared', async (t) => {
  const run = await runConformance({ base: server.fhirBase, suites: selectSuites(['rest', 'search', 'smart', 'mhd', 'space']), auth });
  const results = byId(run);
  for (const id of MUST_PASS) {
    const r = results.get(id);
    t.equal(r?.outcome, 'passed', `${id}${r?.message ? `: ${r.message}` : ''}`);
  }
  for (const r of results.values()) {
    if (r.outcome === 'failed') t.comment(`server gap reported by the kit: ${r.id}: ${r.message}`);
  }
  // No actors given here (see space-e2e.test.ts for them): every space check is skipped, saying why.
  for (const r of run.suites.find((s) => s.id === 'space')!.checks) {
    t.equal(r.outcome, 'skipped', `${r.id} is skipped`);
    t.match(r.message, /^(needs --space-|not checked by this version of the kit)/);
  }
  const cs = (await (await fetch(`${server.fhirBase}/metadata`)).json()) as { rest: { interaction?: { code: string }[] }[]; instantiates?: string[] };
  if (!cs.rest[0]?.interaction?.some((i) => i.code === 'transaction')) {
    for (const id of ['rest.transaction.references', 'rest.transaction.atomic']) {
      t.equal(results.get(id)?.outcome, 'skipped', `${id} is skipped while transaction is not declared`);
    }
  }
  if (!cs.instantiates?.some((u) => u.includes('ITI/MHD'))) {
    for (const r of run.suites.find((s) => s.id === 'mhd')!.checks) t.equal(r.outcome, 'skipped', `${r.id} is skipped while MHD is not claimed`);
  }
});

interface FaultCase {
  fault: Fault;
  /** Checks that must fail behind this fault (and pass without it, see MUST_PASS). */
  fails: string[];
  message?: RegExp;
}

const FAULTS: FaultCase[] = [
  { fault: 'drop-etag', fails: ['rest.read.etag', 'rest.create.location'], message: /ETag/ },
  { fault: 'not-found-as-200', fails: ['rest.read.unknown'], message: /expected HTTP 404, got 200/ },
  { fault: 'no-auth-200', fails: ['rest.security.search-without-token', 'rest.security.read-without-token', 'smart.scopes.no-token'], message: /expected HTTP 401, got 200/ },
  { fault: 'leak-hidden', fails: ['smart.scopes.read-outside-scope', 'smart.scopes.write-outside-scope'] },
  { fault: 'unverified-signature', fails: ['rest.security.wrong-key-token'], message: /expected HTTP 401, got 200/ },
  { fault: 'www-basic', fails: ['rest.security.search-without-token'], message: /Bearer challenge/ },
  { fault: 'location-foreign', fails: ['rest.create.location'], message: /evil\.example/ },
  { fault: 'ignore-last-updated', fails: ['search.patient.common.last-updated-none'] },
];

for (const c of FAULTS) {
  t.test(`fault ${c.fault} is reported by ${c.fails.join(', ')}`, async (t) => {
    const proxy = await startFaultProxy({ target: server.url, fault: c.fault, privilegedToken });
    t.teardown(() => proxy.close());
    const run = await runConformance({ base: `${proxy.origin}/fhir`, suites: only(c.fails), auth });
    const results = byId(run);
    for (const id of c.fails) {
      const r = results.get(id);
      t.equal(r?.outcome, 'failed', `${id} fails`);
      if (c.message) t.match(r?.message, c.message, `${id} says why`);
      t.ok(r?.exchanges.length, `${id} keeps the exchanges as evidence`);
    }
  });
}

const smartConfigStatus = (await fetch(`${server.fhirBase}/.well-known/smart-configuration`)).status;
t.test('fault pkce-plain is reported by the discovery check', {
  skip: smartConfigStatus === 200 ? false : `the server does not serve smart-configuration without a token yet (${smartConfigStatus})`,
}, async (t) => {
  const proxy = await startFaultProxy({ target: server.url, fault: 'pkce-plain', privilegedToken });
  t.teardown(() => proxy.close());
  const run = await runConformance({ base: `${proxy.origin}/fhir`, suites: only(['smart.discovery.pkce-methods']), auth });
  const r = byId(run).get('smart.discovery.pkce-methods');
  t.equal(r?.outcome, 'failed');
  t.match(r?.message, /plain is offered/);
});

t.test('the command line runs, prints plain progress when not a TTY, writes reports and exits 0 when it passes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'carnet-kit-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(server.dataDir, 'dev-client.json');
  const child = spawn(process.execPath, [...nodeArgsFor('conformance/bin/carnet-conformance.ts'), '--base', server.fhirBase, '--suite', 'rest,space', '--private-key', keyFile, '--report-dir', dir], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.equal(code, 0, `exit code (failures: ${out.split('Failures:')[1] ?? 'none'})`);
  t.match(err, /\[1\/\d+\] PASS rest\.capabilities\.metadata/);
  t.match(out, /^rest\s+RESTful API\s+\d+\s+0\s+0\s+\d+\s+\d+$/m, 'nothing failed or errored');
  t.same((await readdir(dir)).sort(), ['TestReport-rest.json', 'TestReport-space.json', 'junit.xml', 'report.html']);
});
