import { exportJWK, generateKeyPair } from 'jose';
import t from 'tap';
import { runConformance } from '../../conformance/runner/run-suites.js';
import type { Suite } from '../../conformance/runner/suite.js';
import type { CheckResult, RunResult, SuiteId } from '../../conformance/runner/types.js';
import { judgeEntry } from '../../conformance/search/matcher.js';
import { selectSuites } from '../../conformance/suites/index.js';
import { startFakeFhir } from './fake-fhir.js';
import { startFakeMhd } from './fake-mhd.js';

/** A failure says what was expected and what came instead, in words an integrator reads without the kit's source. */

function only(ids: string[]): Suite[] {
  const suites = [...new Set(ids.map((id) => id.split('.')[0] as SuiteId))];
  return selectSuites(suites).map((s) => ({ ...s, checks: s.checks.filter((c) => ids.includes(c.id)) }));
}

function result(run: RunResult, id: string): CheckResult | undefined {
  return run.suites.flatMap((s) => s.checks).find((c) => c.id === id);
}

t.test('the matcher names types with their article', async (t) => {
  t.same(judgeEntry('Observation', { resourceType: 'OperationOutcome', issue: [] }, []), { kind: 'mismatch', reason: 'an OperationOutcome among the matches of an Observation search' });
});

t.test('an _include\'d resource not marked include is said so', async (t) => {
  const server = await startFakeFhir(t, {
    resources: [
      { type: 'Patient', interaction: [{ code: 'create' }, { code: 'search-type' }], searchParam: [{ name: 'family', type: 'string' }] },
      { type: 'Observation', interaction: [{ code: 'create' }, { code: 'search-type' }], searchParam: [{ name: 'patient', type: 'reference' }], searchInclude: ['Observation:patient'] },
    ],
    handle: (req) => {
      if (req.method === 'POST') return { status: 201, body: { ...(req.json as object), id: `id${Math.random().toString(36).slice(2, 10)}`, meta: { versionId: '1' } } };
      if (req.method === 'GET' && req.path === '/fhir/Observation' && req.query.get('_include')) {
        const patient = req.query.get('patient')!.replace('Patient/', '');
        return { status: 200, body: { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Patient', id: patient }, search: { mode: 'match' } }] } };
      }
      return undefined;
    },
  });
  const r = result(await runConformance({ base: server.base, suites: only(['search.include.patient']), auth: { kind: 'static', token: 't' } }), 'search.include.patient');
  t.equal(r?.outcome, 'failed');
  t.match(r?.message, /: Patient\/\w+ is returned as a match \(search.mode missing or "match"\): a resource added by _include\/_revinclude must be marked search.mode=include$/);
});

t.test('create without Location, read without Last-Modified: "no ... header", not "undefined"', async (t) => {
  const server = await startFakeFhir(t, {
    resources: [{ type: 'Patient', interaction: [{ code: 'create' }, { code: 'read' }] }],
    handle: (req) => {
      if (req.method === 'POST') return { status: 201, body: { ...(req.json as object), id: 'p1', meta: { versionId: '1' } } };
      if (req.method === 'GET' && req.path === '/fhir/Patient/p1') return { status: 200, body: { resourceType: 'Patient', id: 'p1', meta: { versionId: '1' } } };
      return undefined;
    },
  });
  const run = await runConformance({ base: server.base, suites: only(['rest.create.location', 'rest.read.last-modified']), auth: { kind: 'static', token: 't' } });
  t.equal(result(run, 'rest.create.location')?.message, 'no Location header on the 201');
  t.equal(result(run, 'rest.read.last-modified')?.message, 'no Last-Modified header on the read');
});

t.test('ITI-65 entries answered 200 OK: expected 201 Created', async (t) => {
  const server = await startFakeMhd(t, { entryStatus: '200 OK' });
  const r = result(await runConformance({ base: server.base, suites: only(['mhd.iti65.accepted']), auth: { kind: 'static', token: 't' } }), 'mhd.iti65.accepted');
  t.equal(r?.message, 'entry 1: expected status 201 Created, got "200 OK"');
});

t.test('a token response with token_type mac and expires_in "300": what was expected, and the type of what came', async (t) => {
  const { privateKey } = await generateKeyPair('ES384', { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), alg: 'ES384', kid: 'k1' };
  let answer: Record<string, unknown> = { access_token: 'a-token', token_type: 'mac', expires_in: '300', scope: 'system/*.cruds' };
  const server = await startFakeFhir(t, {
    handle: (req) => (req.path === '/auth/token' ? { status: 200, body: answer, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } } : undefined),
  });
  const run = async (): Promise<CheckResult | undefined> =>
    result(await runConformance({ base: server.base, suites: only(['smart.backend.token-response']), auth: { kind: 'backend', clientId: 'c', privateJwk } }), 'smart.backend.token-response');
  t.equal((await run())?.message, 'token_type: expected "bearer" (RFC 6750), got the string "mac"');
  answer = { ...answer, token_type: 'Bearer' };
  t.equal((await run())?.message, 'expires_in: expected a positive number of seconds, got the string "300"');
});
