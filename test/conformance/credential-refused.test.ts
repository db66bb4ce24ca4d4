import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { runCli } from '../../conformance/cli/run-cli.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import { defineSuite } from '../../conformance/runner/suite.js';
import type { Check } from '../../conformance/runner/suite.js';
import { sink } from './text-sink.js';

/**
 * A credential the server accepted before the checks and refuses during the
 * run (it expired, it was revoked): each check whose request it carried
 * errors, naming it, whatever that check looked for; never a failure of the
 * server, never a pass. Against a small fake server that can start refusing.
 */

/** A JWT-shaped token (unsigned: only the fake reads it) whose `exp` is a minute past. */
const EXPIRED_JWT = [
  Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'at+jwt' })).toString('base64url'),
  Buffer.from(JSON.stringify({ sub: 'someone', exp: Math.floor(Date.now() / 1000) - 60 })).toString('base64url'),
  Buffer.from('signature').toString('base64url'),
].join('.');

interface Fake {
  base: string;
  /** The token the fake accepts, until `refusing`. */
  token: string;
  refusing: boolean;
}

async function startFake(t: Test, token: string, refusing = false): Promise<Fake> {
  const fake: Fake = { base: '', token, refusing };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const send = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(body));
      if (req.url === '/fhir/metadata') {
        return send(200, {
          resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1', format: ['json'], date: '2025-01-01',
          rest: [{ mode: 'server', resource: [{ type: 'Patient', interaction: [{ code: 'read' }, { code: 'search-type' }] }] }],
        });
      }
      if (req.headers.authorization === `Bearer ${fake.token}` && !fake.refusing) return send(200, { resourceType: 'Bundle', type: 'searchset', total: 0 });
      res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
      return send(401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics: 'The access token has expired' }] });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return fake;
}

const requirement = { id: 'test', spec: 'test', section: 'test', url: 'urn:test', text: 'test' };
const check = (id: string, run: Check<unknown>['run']): Check<unknown> => ({ id, title: id, requirement, run });

t.test('a token refused during the run errors every check it was sent with, naming it; an expected 401 stays the check\'s to judge', async (t) => {
  const fake = await startFake(t, EXPIRED_JWT);
  const suite = defineSuite({
    id: 'rest', title: 'test', spec: 'test', scope: () => 'system/*.cruds', createState: () => ({}),
    checks: [
      check('rest.x.before', async (ctx) => ctx.expectStatus(await ctx.http.get('Patient'), 200, 'search')),
      check('rest.x.token-ends', async () => void (fake.refusing = true)),
      // Looks for a refusal: a 401 to the run's own token is not the answer it judges.
      check('rest.x.expects-403', async (ctx) => ctx.expectStatus(await ctx.http.get('Patient'), 403, 'search')),
      // Judges the status itself: a 401 would have passed it.
      check('rest.x.any-4xx', async (ctx) => ctx.expect((await ctx.http.get('Patient')).status >= 400, 'not refused')),
      // A 401 is the answer it looks for.
      check('rest.x.expects-401', async (ctx) => ctx.expectStatus(await ctx.http.get('Patient', { refusalExpected: true }), 401, 'search')),
      // A token the check made itself is not one of the run's credentials.
      check('rest.x.other-token', async (ctx) => ctx.expectStatus(await ctx.http.get('Patient', { auth: { token: 'forged' } }), 200, 'search')),
    ],
  });
  const run = await runConformance({ base: fake.base, suites: [suite], auth: { kind: 'static', token: EXPIRED_JWT } });
  const [before, ends, expects403, any4xx, expects401, other] = run.suites[0]!.checks;
  t.equal(before!.outcome, 'passed', 'the token was accepted before');
  t.equal(ends!.outcome, 'passed');
  for (const c of [expects403!, any4xx!]) {
    t.equal(c.outcome, 'errored', `${c.id}: no verdict`);
    t.match(c.message, /^the server refused --token, which expired at \d{4}-\d\d-\d\dT[\d:.]+Z \(6\d s ago\), during the run: GET http:\/\/127\.0\.0\.1:\d+\/fhir\/Patient answered 401 \(The access token has expired\)$/);
    t.equal(c.exchanges.length, 1, `${c.id} keeps the exchange as evidence`);
  }
  t.equal(expects401!.outcome, 'passed', 'a 401 the check asked for is judged by the check');
  t.equal(other!.outcome, 'failed', 'a 401 to a token that is not the run\'s is a verdict');
});

t.test('a --token the server refuses before any check stops the run: exit 2, saying when it expired', async (t) => {
  const fake = await startFake(t, EXPIRED_JWT, true);
  const out = sink();
  const err = sink();
  const code = await runCli(['--base', fake.base, '--suite', 'rest', '--token', EXPIRED_JWT], { stdout: out as unknown as NodeJS.WriteStream, stderr: err as unknown as NodeJS.WriteStream });
  t.equal(code, 2);
  t.match(err.text, /^carnet-conformance: the server refused --token, which expired at \S+ \(6\d s ago\): GET http:\/\/127\.0\.0\.1:\d+\/fhir\/Patient\?_count=1 answered 401 \(The access token has expired\)\nNo check was run and no report written/);
  t.equal(out.text, '');
});
