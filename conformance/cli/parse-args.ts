import { parseArgs } from 'node:util';
import { DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS } from '../runner/timed-request.js';
import { SUITE_IDS } from '../runner/types.js';
import type { Severity, SuiteId } from '../runner/types.js';

export interface CliOptions {
  base: string;
  suites: SuiteId[];
  clientId?: string;
  privateKey?: string;
  token?: string;
  tokenEndpoint?: string;
  reportDir?: string;
  appClientId?: string;
  redirectUri?: string;
  failOn: Severity[];
  timeoutMs: number;
  runId?: string;
  spacePatientId?: string;
  spacePatientToken?: string;
  spaceProfessionalToken?: string;
  spaceProfessionalRef?: string;
  spaceDoctorToken?: string;
  spaceMinorId?: string;
  spaceRepresentativeToken?: string;
  spaceActors?: string;
  help: boolean;
}

export const USAGE = `Usage: carnet-conformance --base <FHIR base URL> [options]

  --base URL             FHIR R4 base, e.g. https://example.org/fhir (required)
  --suite LIST           comma-separated suites: ${SUITE_IDS.join(',')} (default: all)
  --client-id ID         SMART Backend Services client id
  --private-key FILE     JSON file with the client's private JWK (kid, alg RS384 or ES384),
                         or an object { clientId, privateJwk }
  --token TOKEN          use this bearer token instead of getting one
  --token-endpoint URL   override the discovered token endpoint
  --app-client-id ID     a registered user-facing app, for the authorization-code (PKCE) checks
  --redirect-uri URL     one of that app's registered redirect URIs
  --report-dir DIR       write junit.xml, report.html and TestReport-<suite>.json there
  --fail-on LIST         exit 1 when a check of these severities fails: error,warning (default: error)
  --timeout SECONDS      deadline of each whole request, answer included (default: 30); a request
                         past it makes its check an error, and the run goes on
  --run-id ID            suffix for fixture names: up to 20 letters, digits, '-', '.' (default: random)
  --space-patient-id ID  the health space (Patient id) the space suite tests
  --space-patient-token TOKEN        a user token of that patient
  --space-professional-token TOKEN   a user token of a professional who is not the regular doctor
  --space-professional-ref REF       that professional's Practitioner/<id>
  --space-doctor-token TOKEN         a user token of the patient's regular doctor
  --space-minor-id ID                a minor's Patient id (legal-representative rule)
  --space-representative-token TOKEN a user token of that minor's legal representative
  --space-actors FILE    JSON { patientId, patientToken, professionalToken, professionalRef, doctorToken, minorId, representativeToken }
                         (options given on the command line win)
  -h, --help             show this help
`;

/**
 * The run id goes into fixture ids (FHIR id: [A-Za-z0-9\-.]{1,64}); the longest the
 * kit builds adds 19 characters (`emergency-<run id>-<8 hex>`), so 20 leaves room.
 */
export const MAX_RUN_ID = 20;
const RUN_ID = new RegExp(`^[A-Za-z0-9.-]{1,${MAX_RUN_ID}}$`);

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseCli(argv: string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        base: { type: 'string' },
        suite: { type: 'string', multiple: true },
        'client-id': { type: 'string' },
        'private-key': { type: 'string' },
        token: { type: 'string' },
        'token-endpoint': { type: 'string' },
        'report-dir': { type: 'string' },
        'app-client-id': { type: 'string' },
        'redirect-uri': { type: 'string' },
        'fail-on': { type: 'string' },
        timeout: { type: 'string' },
        'run-id': { type: 'string' },
        'space-patient-id': { type: 'string' },
        'space-patient-token': { type: 'string' },
        'space-professional-token': { type: 'string' },
        'space-professional-ref': { type: 'string' },
        'space-doctor-token': { type: 'string' },
        'space-minor-id': { type: 'string' },
        'space-representative-token': { type: 'string' },
        'space-actors': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return { base: '', suites: [], failOn: ['error'], timeoutMs: DEFAULT_TIMEOUT_MS, help: true };
  if (!v.base) throw new UsageError('--base is required');
  let base: URL;
  try {
    base = new URL(v.base);
  } catch {
    throw new UsageError(`--base is not a URL: ${v.base}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new UsageError('--base must be an http(s) URL');
  const tokenEndpoint = v['token-endpoint'];
  if (tokenEndpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(tokenEndpoint);
    } catch {
      throw new UsageError(`--token-endpoint is not a URL: ${tokenEndpoint}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--token-endpoint must be an http(s) URL');
  }
  const runId = v['run-id'];
  if (runId !== undefined && !RUN_ID.test(runId)) {
    throw new UsageError(`--run-id must be 1 to ${MAX_RUN_ID} letters, digits, '-' or '.' (it becomes part of FHIR ids, at most 64 characters): ${JSON.stringify(runId)}`);
  }

  const suites = (v.suite ?? [SUITE_IDS.join(',')]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (suites.length === 0) throw new UsageError(`--suite names no suite (known: ${SUITE_IDS.join(', ')})`);
  for (const s of suites) if (!SUITE_IDS.includes(s as SuiteId)) throw new UsageError(`unknown suite '${s}' (known: ${SUITE_IDS.join(', ')})`);

  const failOn = (v['fail-on'] ?? 'error').split(',').map((s) => s.trim()).filter(Boolean);
  // An empty list would mean "never fail": a SHALL failure would exit 0.
  if (failOn.length === 0) throw new UsageError('--fail-on names no severity (known: error, warning)');
  for (const f of failOn) if (f !== 'error' && f !== 'warning') throw new UsageError(`--fail-on takes error and/or warning, not '${f}'`);

  if (Boolean(v['app-client-id']) !== Boolean(v['redirect-uri'])) throw new UsageError('--app-client-id and --redirect-uri go together');
  if (v.token && v['private-key']) throw new UsageError('give either --token or --private-key, not both');
  const ref = v['space-professional-ref'];
  if (ref !== undefined && !/^Practitioner\/[A-Za-z0-9\-.]{1,64}$/.test(ref)) throw new UsageError('--space-professional-ref must be Practitioner/<id>');
  const timeout = v.timeout === undefined ? DEFAULT_TIMEOUT_MS / 1000 : Number(v.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError('--timeout must be a positive number of seconds');
  // Node's timers hold 32-bit milliseconds: a longer deadline would fire at once.
  if (timeout * 1000 > MAX_TIMEOUT_MS) throw new UsageError(`--timeout must be at most ${MAX_TIMEOUT_MS / 1000} seconds`);
  // Timers take whole milliseconds (AbortSignal.timeout throws on 2009.9999999999998).
  const timeoutMs = Math.round(timeout * 1000);
  if (timeoutMs < 1) throw new UsageError(`--timeout must be at least 0.001 seconds (1 ms): ${v.timeout}`);

  return {
    base: v.base.replace(/\/+$/, ''),
    suites: [...new Set(suites)] as SuiteId[],
    clientId: v['client-id'],
    privateKey: v['private-key'],
    token: v.token,
    tokenEndpoint,
    reportDir: v['report-dir'],
    appClientId: v['app-client-id'],
    redirectUri: v['redirect-uri'],
    failOn: [...new Set(failOn)] as Severity[],
    timeoutMs,
    runId,
    spacePatientId: v['space-patient-id'],
    spacePatientToken: v['space-patient-token'],
    spaceProfessionalToken: v['space-professional-token'],
    spaceProfessionalRef: ref,
    spaceDoctorToken: v['space-doctor-token'],
    spaceMinorId: v['space-minor-id'],
    spaceRepresentativeToken: v['space-representative-token'],
    spaceActors: v['space-actors'],
    help: false,
  };
}
