import t from 'tap';
import { runConformance } from '../../conformance/runner/run-suites.js';
import type { Suite } from '../../conformance/runner/suite.js';
import type { CheckResult, RunResult } from '../../conformance/runner/types.js';
import { selectSuites } from '../../conformance/suites/index.js';
import { outcome, startFakeFhir } from './fake-fhir.js';

/** rest-suite verdicts against single-defect fakes: no false pass on an unsigned token, nor on a 5xx transaction. */

function only(id: string): Suite[] {
  return selectSuites(['rest']).map((s) => ({ ...s, checks: s.checks.filter((c) => c.id === id) }));
}

function result(run: RunResult, id: string): CheckResult | undefined {
  return run.suites.flatMap((s) => s.checks).find((c) => c.id === id);
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const parts = (token: string): unknown[] => token.split('.').map((p) => (p ? JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) : ''));

t.test('rest.security.bad-token: a server accepting unsigned tokens whose claims look valid fails', async (t) => {
  const claims = { iss: 'https://fake.test', aud: 'https://fake.test/fhir', exp: Math.floor(Date.now() / 1000) + 3600, scope: 'system/*.cruds', client_id: 'kit' };
  const token = `${b64({ alg: 'ES384', typ: 'JWT', kid: 'k1' })}.${b64(claims)}.c2lnbmF0dXJl`;
  const server = await startFakeFhir(t, {
    handle: (req) => {
      // Reads the claims and never the signature nor the alg: the defect.
      const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
      const payload = (() => {
        try {
          return JSON.parse(Buffer.from(bearer.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iss?: string; exp?: number };
        } catch {
          return {};
        }
      })();
      if (payload.iss !== claims.iss || !(typeof payload.exp === 'number' && payload.exp > Date.now() / 1000)) {
        return { status: 401, body: outcome('invalid token'), headers: { 'www-authenticate': 'Bearer error="invalid_token"' } };
      }
      return { status: 200, body: { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Patient', id: 'p' } }] } };
    },
  });
  const run = await runConformance({ base: server.base, suites: only('rest.security.bad-token'), auth: { kind: 'static', token } });
  const r = result(run, 'rest.security.bad-token');
  t.equal(r?.outcome, 'failed', r?.message ?? '');
  t.match(r?.message, /^GET Patient with the run's token unsigned \(alg none, same claims, no signature\): expected HTTP 401, got 200/);
  const sent = /^Bearer (.+)$/.exec(server.requests.at(-1)?.authorization ?? '')?.[1] ?? '';
  t.same(parts(sent), [{ alg: 'none', typ: 'JWT', kid: 'k1' }, claims, ''], 'the same header fields but alg none, the same claims, an empty signature');
});

t.test('rest.transaction.atomic: a 5xx is no refusal of the transaction', async (t) => {
  let status = 500;
  const server = await startFakeFhir(t, {
    interactions: ['transaction'],
    resources: [{ type: 'Patient', interaction: [{ code: 'search-type' }], searchParam: [{ name: 'identifier', type: 'token' }] }],
    handle: (req) => (req.method === 'POST' && req.path === '/fhir' ? { status, body: outcome('boom') } : undefined),
  });
  const run = await runConformance({ base: server.base, suites: only('rest.transaction.atomic'), auth: { kind: 'static', token: 't' } });
  const r = result(run, 'rest.transaction.atomic');
  t.equal(r?.outcome, 'failed');
  t.equal(r?.message, 'transaction with a failing entry (a stale ifMatch): expected a 4xx refusal (412 Precondition Failed), got 500, a server error');

  status = 400;
  const refused = result(await runConformance({ base: server.base, suites: only('rest.transaction.atomic'), auth: { kind: 'static', token: 't' } }), 'rest.transaction.atomic');
  t.equal(refused?.outcome, 'passed', 'a 400 is a refusal');
  t.match(refused?.notes, [/refused with 400; for a failed ifMatch http.html names 412 Precondition Failed/], 'with a note that 412 is the expected answer');
});
