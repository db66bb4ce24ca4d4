import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import t from 'tap';
import { requestBackendToken } from '../../conformance/auth/backend-services.js';
import { runCli } from '../../conformance/cli/run-cli.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import { defineSuite } from '../../conformance/runner/suite.js';
import { startServer } from './server-process.js';
import { sink } from './text-sink.js';
import { ehrLaunch, userToken } from './user-tokens.js';

/**
 * Tokens of the `space` suite's actors that the server no longer accepts (they
 * expired, or were never its own) stop the run before any check, exit 2, one
 * sentence per actor: never a run of checks failing on 401s, as if the server
 * broke the rules. The server issues 10-second tokens here, so that they can
 * expire during the test.
 */

const server = await startServer({ seed: true, ehrApp: true, env: { ACCESS_TOKEN_SECONDS: '10' } });
t.teardown(() => server.stop());
const keyFile = join(server.dataDir, 'dev-client.json');
const app = { origin: server.url, fhirBase: server.fhirBase, password: 'carnet-demo-2026', clientId: 'demo-app', redirectUri: 'http://localhost:5555/callback' };
const systemToken = async (): Promise<string> =>
  (await requestBackendToken({ tokenEndpoint: `${server.url}/auth/token`, clientId: server.devClient.clientId, jwk: server.devClient.privateJwk, scope: 'system/*.cruds' })).access_token;

const stale = {
  patientToken: await userToken({ ...app, username: 'helene', scope: 'launch/patient patient/*.rs patient/DocumentReference.cruds' }),
  doctorToken: await userToken({ ...app, ...server.ehrApp!, username: 'dr.martin', scope: 'launch patient/*.rs', launch: await ehrLaunch(server.url, await systemToken(), 'helene') }),
  representativeToken: await userToken({ ...app, username: 'helene.parent', scope: 'launch/patient patient/*.rs' }),
};

/** Waits until every one of these JWTs has expired (a second past the last `exp`). */
async function untilExpired(tokens: string[]): Promise<void> {
  const last = Math.max(...tokens.map((token) => decodeJwt(token).exp ?? 0)) * 1000;
  const wait = last + 1000 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await runCli(args, { stdout: out as unknown as NodeJS.WriteStream, stderr: err as unknown as NodeJS.WriteStream });
  return { code, out: out.text, err: err.text };
}

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
const PROBE = 'GET http://127\\.0\\.0\\.1:\\d+/fhir/Patient\\?_count=1 answered 401';

t.test('expired actor tokens, and one the server never issued, stop the run before any check: exit 2, one sentence per actor', async (t) => {
  await untilExpired(Object.values(stale));
  const dir = await mkdtemp(join(tmpdir(), 'carnet-stale-actors-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const actorsFile = join(dir, 'actors.json');
  await writeFile(actorsFile, JSON.stringify({
    patientId: 'helene', ...stale, minorId: 'leo', professionalRef: 'Practitioner/dr-petit', professionalToken: 'not-a-token-of-this-server',
  }));
  const reportDir = join(dir, 'report');
  const r = await cli(['--base', server.fhirBase, '--suite', 'space', '--private-key', keyFile, '--space-actors', actorsFile, '--report-dir', reportDir]);

  t.equal(r.code, 2, 'exit 2: the kit could not run');
  const lines = r.err.trimEnd().split('\n');
  const expired = (who: string, option: string, key: string): RegExp =>
    new RegExp(`^carnet-conformance: the server refused the ${who}'s token \\(${option}, ${key} in --space-actors\\), which expired at ${ISO} \\(\\d+ s ago\\): ${PROBE} \\(The access token has expired\\)$`);
  t.match(lines, [
    expired('patient', '--space-patient-token', 'patientToken'),
    /^carnet-conformance: the server refused the professional's token \(--space-professional-token, professionalToken in --space-actors\): GET \S+ answered 401 \(.+\)$/,
    expired('regular doctor', '--space-doctor-token', 'doctorToken'),
    expired('legal representative', '--space-representative-token', 'representativeToken'),
    /^No check was run and no report written: the server does not accept the credentials given\.$/,
  ], 'every refused actor named at once, with why');
  t.equal(lines.length, 5);
  t.notMatch(r.err, /checks against|PASS|FAIL|ERROR/, 'no check started');
  t.equal(r.out, '', 'no summary');
  await t.rejects(access(reportDir), 'no report written');
});

t.test('the actors\' tokens are tried only when a selected suite sends them', async (t) => {
  await untilExpired(Object.values(stale));
  const ran: string[] = [];
  const other = defineSuite({
    id: 'rest', title: 'test', spec: 'test', scope: () => 'system/*.cruds', createState: () => ({}),
    checks: [{ id: 'rest.x.ran', title: 'ran', requirement: { id: 'x', spec: 'x', section: 'x', url: 'urn:x', text: 'x' }, run: async () => void ran.push('ran') }],
  });
  const run = await runConformance({
    base: server.fhirBase, suites: [other],
    auth: { kind: 'backend', ...server.devClient, spaceActors: { patientId: 'helene', ...stale } },
  });
  t.same(ran, ['ran'], 'a suite that sends no actor token runs whatever those tokens are');
  t.equal(run.suites[0]!.checks[0]!.outcome, 'passed');
});
