import { loadPrivateKeyFile } from '../auth/backend-services.js';
import { loadSpaceActorsFile } from '../auth/space-actors.js';
import type { SpaceActors } from '../auth/space-actors.js';
import type { AuthOptions } from '../auth/token-source.js';
import { shouldFail } from '../reports/tally.js';
import { writeReports } from '../reports/write-reports.js';
import { runConformance } from '../runner/run-suites.js';
import { TargetUnavailable } from '../runner/target.js';
import type { RunResult } from '../runner/types.js';
import { selectSuites } from '../suites/index.js';
import { parseCli, USAGE, UsageError } from './parse-args.js';
import type { CliOptions } from './parse-args.js';
import { createProgress } from './progress.js';
import { formatSummary } from './summary-table.js';

export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** Exit codes: 0 conformant (for the chosen severities), 1 failures, 2 bad usage or the kit could not run. */
export async function runCli(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`carnet-conformance: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  let run: RunResult;
  try {
    run = await runConformance({
      base: options.base,
      suites: selectSuites(options.suites),
      auth: await authOptions(options),
      runId: options.runId,
      timeoutMs: options.timeoutMs,
      appClient: options.appClientId && options.redirectUri ? { clientId: options.appClientId, redirectUri: options.redirectUri } : undefined,
      progress: createProgress(io.stderr),
    });
  } catch (err) {
    io.stderr.write(`carnet-conformance: ${(err as Error).message}\n`);
    if (err instanceof TargetUnavailable) io.stderr.write('No check was run and no report written: every check depends on the CapabilityStatement.\n');
    return 2;
  }
  io.stdout.write(formatSummary(run));
  if (options.reportDir) {
    const written = await writeReports(run, options.reportDir, { failOn: options.failOn });
    io.stdout.write(`\nReports:\n${written.map((p) => `  ${p}`).join('\n')}\n`);
  }
  return shouldFail(run, options.failOn) ? 1 : 0;
}

async function spaceActors(o: CliOptions): Promise<SpaceActors> {
  const fromFile = o.spaceActors ? await loadSpaceActorsFile(o.spaceActors) : {};
  const given: SpaceActors = {
    patientId: o.spacePatientId?.replace(/^Patient\//, ''),
    patientToken: o.spacePatientToken,
    professionalToken: o.spaceProfessionalToken,
    professionalRef: o.spaceProfessionalRef,
    doctorToken: o.spaceDoctorToken,
    minorId: o.spaceMinorId?.replace(/^Patient\//, ''),
    representativeToken: o.spaceRepresentativeToken,
  };
  const out: SpaceActors = { ...fromFile };
  for (const [k, v] of Object.entries(given) as [keyof SpaceActors, string | undefined][]) if (v) out[k] = v;
  return out;
}

async function authOptions(o: CliOptions): Promise<AuthOptions> {
  const actors = await spaceActors(o);
  return { ...(await credentials(o)), spaceActors: actors };
}

async function credentials(o: CliOptions): Promise<AuthOptions> {
  if (o.token) return { kind: 'static', token: o.token };
  if (!o.privateKey) {
    if (o.clientId) throw new Error('--client-id needs --private-key');
    return { kind: 'none' };
  }
  const key = await loadPrivateKeyFile(o.privateKey);
  const clientId = o.clientId ?? key.clientId;
  if (!clientId) throw new Error('--private-key needs --client-id (the key file names no clientId)');
  return { kind: 'backend', clientId, privateJwk: key.privateJwk, tokenEndpoint: o.tokenEndpoint, fallbackTokenEndpoint: key.tokenUrl };
}
