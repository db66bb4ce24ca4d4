import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestReport } from '@medplum/fhirtypes';
import t from 'tap';
import type { Test } from 'tap';
import { request } from 'undici';
import { formatSummary } from '../../conformance/cli/summary-table.js';
import { requestBackendToken } from '../../conformance/auth/backend-services.js';
import type { SpaceActors } from '../../conformance/auth/space-actors.js';
import { writeReports } from '../../conformance/reports/write-reports.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import type { Check } from '../../conformance/runner/suite.js';
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

const server = await startServer({ seed: true, ehrApp: true });
t.teardown(() => server.stop());
const auth = { kind: 'backend' as const, ...server.devClient };
const tokenEndpoint = `${server.url}/auth/token`;
const privilegedToken = async (): Promise<string> =>
  (await requestBackendToken({ tokenEndpoint, clientId: server.devClient.clientId, jwk: server.devClient.privateJwk, scope: 'system/*.cruds' })).access_token;

const app = { origin: server.url, fhirBase: server.fhirBase, password: 'carnet-demo-2026', clientId: 'demo-app', redirectUri: 'http://localhost:5555/callback' };
// Professionals open the space through the operator's EHR app, on an EHR launch (a catalogue app gives them no patient data).
const professional = async (username: string): Promise<string> =>
  userToken({ ...app, ...server.ehrApp!, username, scope: 'launch patient/*.rs', launch: await ehrLaunch(server.url, await privilegedToken(), 'helene') });

/** A token of helene's through the catalogue's demo app: one per run, since the app-consent check may end it for good. */
const patientToken = (): Promise<string> => userToken({ ...app, username: 'helene', scope: 'launch/patient patient/*.rs patient/DocumentReference.cruds' });

const actors: Omit<SpaceActors, 'patientToken'> = {
  patientId: 'helene',
  doctorToken: await professional('dr.martin'),
  professionalToken: await professional('dr.petit'),
  professionalRef: 'Practitioner/dr-petit',
  minorId: 'leo',
  representativeToken: await userToken({ ...app, username: 'helene.parent', scope: 'launch/patient patient/*.rs' }),
};

/** The actors, with a patient token of their own. */
const withPatient = async (): Promise<SpaceActors> => ({ ...actors, patientToken: await patientToken() });

const CHECKED = ['space.masked-from-professionals', 'space.invisible-to-patient', 'space.invisible-to-representatives', 'space.regular-doctor', 'space.blocked-professional', 'space.break-the-glass', 'space.access-history', 'space.app-consent', 'space.document-origin'];

function byId(run: RunResult): Map<string, CheckResult> {
  return new Map(run.suites.flatMap((s) => s.checks).map((c) => [c.id, c]));
}

t.test('with the actors given, the space rules pass against the real server; the rules the kit has no check for stay skipped', async (t) => {
  const run = await runConformance({ base: server.fhirBase, suites: selectSuites(['space']), auth: { ...auth, spaceActors: await withPatient() } });
  const results = byId(run);
  for (const id of CHECKED) {
    const r = results.get(id);
    t.equal(r?.outcome, 'passed', `${id}${r?.message ? `: ${r.message}` : ''}`);
  }
  // A skip speaks of the kit, never of a server it did not ask.
  t.equal(results.get('space.patient-cannot-start-thread')?.outcome, 'skipped');
  t.equal(results.get('space.patient-cannot-start-thread')?.message, 'not checked by this version of the kit');
  t.equal(results.get('space.no-insurer')?.outcome, 'skipped');
  t.match(results.get('space.no-insurer')?.message, /^not checked by this version of the kit: /);
  for (const r of results.values()) t.notMatch(r.message ?? '', /not yet available on the server/, `${r.id} claims nothing about the server it did not learn from it`);
  // A pass claims no more than was verified: what was not is listed with it.
  t.match(results.get('space.invisible-to-patient')?.notChecked, [/one month after it was written/]);
  t.notMatch(results.get('space.regular-doctor')?.notChecked?.join(' ') ?? '', /cannot be blocked/, 'the block on the regular doctor was tried (helene names dr-martin as generalPractitioner)');
  t.notMatch(results.get('space.break-the-glass')?.notChecked?.join(' ') ?? '', /regular doctor is told/, 'the regular doctor\'s notice was checked');
  t.notMatch(results.get('space.access-history')?.notChecked?.join(' ') ?? '', /professional's access|regular doctor's access/, 'every given actor\'s access was looked up');
});

t.test('without actors, each check is skipped naming the missing option', async (t) => {
  const run = await runConformance({ base: server.fhirBase, suites: selectSuites(['space']), auth: { ...auth, spaceActors: { patientId: 'helene', patientToken: await patientToken() } } });
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
  const run = await runConformance({ base: `${proxy.origin}/fhir`, suites: [only], auth: { ...auth, spaceActors: await withPatient() } });
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

t.test('a trail that records no read is reported by the access-history check', async (t) => {
  const r = await behindFault(t, 'audit-writes-only', 'space.access-history');
  t.equal(r?.outcome, 'failed', r?.message ?? '');
  t.match(r?.message, /^the patient's AuditEvents record no read of DocumentReference\/\S+ by the patient \(Patient\/helene\), the professional \(Practitioner\/dr-petit\), the regular doctor \(Practitioner\/dr-martin\), though the run made these reads/);
});

t.test('an emergency access the regular doctor is not told of is reported by the break-the-glass check', async (t) => {
  const r = await behindFault(t, 'btg-doctor-untold', 'space.break-the-glass');
  t.equal(r?.outcome, 'failed', r?.message ?? '');
  t.match(r?.message, /the regular doctor \(Practitioner\/dr-martin\) was not told of the emergency access/);
});

t.test('a regular doctor the patient can block is reported by the regular-doctor check', async (t) => {
  const r = await behindFault(t, 'doctor-blockable', 'space.regular-doctor');
  t.equal(r?.outcome, 'failed', r?.message ?? '');
  t.match(r?.message, /^the regular doctor named \(Practitioner\/dr-martin\) in the patient's deny Consent \S+ reads the MASQUE_PS document \S+: expected HTTP 200, got 403/);
});

const PATIENT_TOKEN_NAME = "the patient's token (--space-patient-token, patientToken in --space-actors)";
/** The checks that send the patient's token: the others must not be touched by its revocation. */
const USE_PATIENT_TOKEN = ['space.invisible-to-patient', 'space.access-history', 'space.app-consent', 'space.document-origin'];

t.test('an actor token refused during the run makes each check sending it errored, naming it; no check fails', async (t) => {
  const revoked = await patientToken();
  // Revoked once the run has tried every token and before its first check: as a token expiring mid-run, a 401 out of the blue.
  const revoke: Check<unknown> = {
    id: 'test.revoke-patient-token', title: 'revokes the patient token', requirement: { id: 'test', spec: 'test', section: 'test', url: 'urn:test', text: 'test' },
    async run() {
      const res = await request(`${server.url}/auth/revoke`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: revoked, client_id: app.clientId }).toString(),
      });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`revoke: ${res.statusCode}`);
    },
  };
  const space = selectSuites(['space'])[0]!;
  const run = await runConformance({ base: server.fhirBase, suites: [{ ...space, checks: [revoke, ...space.checks] }], auth: { ...auth, spaceActors: { ...actors, patientToken: revoked } } });
  const results = byId(run);
  t.equal(results.get('test.revoke-patient-token')?.outcome, 'passed', 'the token was accepted before the checks (else the run would have stopped)');
  for (const id of USE_PATIENT_TOKEN) {
    const r = results.get(id);
    t.equal(r?.outcome, 'errored', `${id} could not reach a verdict`);
    t.match(r?.message, `the server refused ${PATIENT_TOKEN_NAME} during the run: `, `${id} names the actor`);
    t.match(r?.message, /: (GET|POST) http:\/\/127\.0\.0\.1:\d+\/fhir\/DocumentReference\S* answered 401 \(The access token was revoked\)$/, `${id} names the request and the server's reason`);
  }
  for (const id of CHECKED.filter((c) => !USE_PATIENT_TOKEN.includes(c))) t.equal(results.get(id)?.outcome, 'passed', `${id}${results.get(id)?.message ? `: ${results.get(id)?.message}` : ''}`);
  t.equal(run.suites[0]!.checks.filter((c) => c.outcome === 'failed').length, 0, 'no failure laid at the server\'s door');

  // Every report says the same: errors, not failures.
  const dir = await mkdtemp(join(tmpdir(), 'carnet-space-refused-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeReports(run, dir);
  const report = JSON.parse(await readFile(join(dir, 'TestReport-space.json'), 'utf8')) as TestReport;
  const asserted = new Map(report.test?.map((x) => [x.name, x.action?.[0]?.assert]));
  for (const id of USE_PATIENT_TOKEN) t.equal(asserted.get(id)?.result, 'error', `TestReport: ${id} is an error`);
  t.notOk([...asserted.values()].some((a) => a?.result === 'fail'), 'TestReport: no assert fails');
  const xml = await readFile(join(dir, 'junit.xml'), 'utf8');
  t.match(xml, /<testsuite name="space" tests="12" failures="0" errors="4"/);
  const summary = formatSummary(run);
  t.notMatch(summary, /Failures:/);
  t.match(summary, /Errors \(checks that could not complete\):\n {2}\[error\] space\.invisible-to-patient: the server refused the patient's token/);
  const html = await readFile(join(dir, 'report.html'), 'utf8');
  t.equal((html.match(/<span class="badge errored">/g) ?? []).length, 4, 'HTML: four errored badges');
});
