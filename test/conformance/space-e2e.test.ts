import t from 'tap';
import type { Test } from 'tap';
import { requestBackendToken } from '../../conformance/auth/backend-services.js';
import type { SpaceActors } from '../../conformance/auth/space-actors.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import type { CheckResult, RunResult } from '../../conformance/runner/types.js';
import { selectSuites } from '../../conformance/suites/index.js';
import { startFaultProxy } from './fault-proxy.js';
import type { Fault } from './fault-proxy.js';
import { startServer } from './server-process.js';
import { ehrLaunch, userToken } from './user-tokens.js';

/**
 * The space suite against the real server, seeded with the demo accounts
 * (helene, her regular doctor dr.martin, another professional dr.petit), each
 * acting through a real user token; then behind a proxy leaking masked documents.
 */

const server = await startServer({ seed: true });
t.teardown(() => server.stop());
const auth = { kind: 'backend' as const, ...server.devClient };
const tokenEndpoint = `${server.url}/auth/token`;
const privilegedToken = async (): Promise<string> =>
  (await requestBackendToken({ tokenEndpoint, clientId: server.devClient.clientId, jwk: server.devClient.privateJwk, scope: 'system/*.cruds' })).access_token;

const app = { origin: server.url, fhirBase: server.fhirBase, password: 'carnet-demo-2026', clientId: 'demo-app', redirectUri: 'http://localhost:5555/callback' };
const professional = async (username: string): Promise<string> =>
  userToken({ ...app, username, scope: 'launch patient/*.rs', launch: await ehrLaunch(server.url, await privilegedToken(), 'helene') });

const actors: SpaceActors = {
  patientId: 'helene',
  patientToken: await userToken({ ...app, username: 'helene', scope: 'launch/patient patient/*.rs patient/DocumentReference.cruds' }),
  doctorToken: await professional('dr.martin'),
  professionalToken: await professional('dr.petit'),
  professionalRef: 'Practitioner/dr-petit',
  minorId: 'leo',
  representativeToken: await userToken({ ...app, username: 'helene.parent', scope: 'launch/patient patient/*.rs' }),
};

const CHECKED = ['space.masked-from-professionals', 'space.invisible-to-patient', 'space.invisible-to-representatives', 'space.regular-doctor', 'space.blocked-professional', 'space.break-the-glass', 'space.access-history', 'space.app-consent', 'space.document-origin'];

function byId(run: RunResult): Map<string, CheckResult> {
  return new Map(run.suites.flatMap((s) => s.checks).map((c) => [c.id, c]));
}

t.test('with the actors given, the space rules pass against the real server; messaging stays skipped', async (t) => {
  const run = await runConformance({ base: server.fhirBase, suites: selectSuites(['space']), auth: { ...auth, spaceActors: actors } });
  const results = byId(run);
  for (const id of CHECKED) {
    const r = results.get(id);
    t.equal(r?.outcome, 'passed', `${id}${r?.message ? `: ${r.message}` : ''}`);
  }
  t.equal(results.get('space.patient-cannot-start-thread')?.outcome, 'skipped');
  t.equal(results.get('space.patient-cannot-start-thread')?.message, 'feature not yet available on the server');
});

t.test('without actors, each check is skipped naming the missing option', async (t) => {
  const run = await runConformance({ base: server.fhirBase, suites: selectSuites(['space']), auth: { ...auth, spaceActors: { patientId: 'helene', patientToken: actors.patientToken } } });
  const results = byId(run);
  t.equal(results.get('space.invisible-to-patient')?.outcome, 'passed', 'the patient-only check still runs');
  t.equal(results.get('space.regular-doctor')?.outcome, 'skipped');
  t.match(results.get('space.regular-doctor')?.message, /--space-doctor-token/);
  t.equal(results.get('space.masked-from-professionals')?.outcome, 'skipped');
  t.match(results.get('space.masked-from-professionals')?.message, /--space-professional-token, --space-professional-ref/);
});

/** Runs one space check against the server behind a fault-injecting proxy. */
async function behindFault(t: Test, fault: Fault, checkId: string): Promise<CheckResult | undefined> {
  const proxy = await startFaultProxy({ target: server.url, fault, privilegedToken });
  t.teardown(() => proxy.close());
  const suite = selectSuites(['space'])[0]!;
  const only = { ...suite, checks: suite.checks.filter((c) => c.id === checkId) };
  const run = await runConformance({ base: `${proxy.origin}/fhir`, suites: [only], auth: { ...auth, spaceActors: actors } });
  return byId(run).get(checkId);
}

t.test('fault leak-masked is reported by the masked-document check', async (t) => {
  const r = await behindFault(t, 'leak-masked', 'space.masked-from-professionals');
  t.equal(r?.outcome, 'failed');
  t.match(r?.message, /MASQUE_PS/);
  t.ok(r?.exchanges.length, 'the exchanges are kept as evidence');
});

t.test('emergency access served outside the policy is reported by the break-the-glass check', async (t) => {
  const r = await behindFault(t, 'btg-unchecked', 'space.break-the-glass');
  t.equal(r?.outcome, 'failed');
  t.match(r?.message, /BTG/);
});

t.test('an app still served after the patient withdrew their consent is reported by the app-consent check', async (t) => {
  const r = await behindFault(t, 'leak-hidden', 'space.app-consent');
  t.equal(r?.outcome, 'failed');
  t.match(r?.message, /withdrew their consent/);
});

t.test('a document hidden from legal representatives that leaks to one is reported', async (t) => {
  const r = await behindFault(t, 'leak-hidden', 'space.invisible-to-representatives');
  t.equal(r?.outcome, 'failed');
  t.match(r?.message, /INVISIBLE_REPRESENTANTS_LEGAUX/);
});
