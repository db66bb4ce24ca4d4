import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { loadPrivateKeyFile } from '../auth/key-file.js';
import { loadSpaceActorsFile } from '../auth/space-actors.js';
import type { SpaceActors } from '../auth/space-actors.js';
import type { AuthOptions } from '../auth/token-source.js';
import { shouldFail } from '../reports/tally.js';
import { writeReports } from '../reports/write-reports.js';
import { runConformance } from '../runner/run-suites.js';
import { CredentialsUnusable } from '../runner/credentials.js';
import { TargetUnavailable } from '../runner/target.js';
import type { RunResult, SuiteId } from '../runner/types.js';
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
  let auth: AuthOptions;
  try {
    // Everything the run needs from the operator is checked before any request: a
    // mistake found after the run would waste it.
    if (options.reportDir) await checkReportDir(options.reportDir, reportFiles(options.suites));
    auth = await authOptions(options);
  } catch (err) {
    io.stderr.write(`carnet-conformance: ${(err as Error).message}\nNo check was run.\n`);
    return 2;
  }
  let run: RunResult;
  try {
    run = await runConformance({
      base: options.base,
      suites: selectSuites(options.suites),
      auth,
      runId: options.runId,
      timeoutMs: options.timeoutMs,
      appClient: options.appClientId && options.redirectUri ? { clientId: options.appClientId, redirectUri: options.redirectUri } : undefined,
      progress: createProgress(io.stderr),
    });
  } catch (err) {
    if (!(err instanceof TargetUnavailable || err instanceof CredentialsUnusable)) {
      io.stderr.write(`carnet-conformance: the kit failed before any check (a defect of the kit, not a verdict on the server): ${(err as Error).stack ?? String(err)}\nNo check was run and no report written.\n`);
      return 2;
    }
    // One line per problem (every refused credential is named at once).
    for (const line of (err as Error).message.split('\n')) io.stderr.write(`carnet-conformance: ${line}\n`);
    if (err instanceof TargetUnavailable) io.stderr.write('No check was run and no report written: every check depends on the CapabilityStatement.\n');
    if (err instanceof CredentialsUnusable) io.stderr.write('No check was run and no report written: the server does not accept the credentials given.\n');
    return 2;
  }
  io.stdout.write(formatSummary(run));
  if (options.reportDir) {
    let written: string[];
    try {
      written = await writeReports(run, options.reportDir, { failOn: options.failOn });
    } catch (err) {
      io.stderr.write(`carnet-conformance: cannot write the reports to ${options.reportDir}: ${(err as Error).message}\n`);
      return 2;
    }
    io.stdout.write(`\nReports:\n${written.map((p) => `  ${p}`).join('\n')}\n`);
  }
  return shouldFail(run, options.failOn) ? 1 : 0;
}

/** The files writeReports writes for these suites. */
function reportFiles(suites: readonly SuiteId[]): string[] {
  return ['junit.xml', 'report.html', ...suites.map((s) => `TestReport-${s}.json`)];
}

/**
 * Checks that the report directory can be created (or written) without creating
 * it, and that none of the files the reports go to is in the way (a directory, a
 * read-only file): an unusable one stops the run before it starts, and a run that
 * stops early leaves no empty directory behind.
 */
async function checkReportDir(dir: string, files: string[]): Promise<void> {
  const target = resolve(dir);
  let path = resolve(dir);
  for (;;) {
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`--report-dir ${dir} cannot be used: ${(err as Error).message}`, { cause: err });
      const parent = dirname(path);
      if (parent === path) throw new Error(`--report-dir ${dir} cannot be used: no existing parent directory`);
      path = parent;
      continue;
    }
    if (!info.isDirectory()) throw new Error(`--report-dir ${dir} cannot be used: ${path} is not a directory`);
    try {
      await access(path, constants.W_OK);
    } catch {
      throw new Error(`--report-dir ${dir} cannot be used: ${path} is not writable`);
    }
    if (path === target) for (const name of files) await checkReportFile(dir, join(target, name));
    return;
  }
}

/** A report file that exists must be a file the kit can overwrite. */
async function checkReportFile(dir: string, file: string): Promise<void> {
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`--report-dir ${dir} cannot be used: ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!info.isFile()) throw new Error(`--report-dir ${dir} cannot be used: ${file} is in the way (${info.isDirectory() ? 'a directory' : 'not a regular file'}), where the report must be written`);
  try {
    await access(file, constants.W_OK);
  } catch {
    throw new Error(`--report-dir ${dir} cannot be used: ${file} exists and is not writable`);
  }
}

const SPACE_ACTOR_KEYS = ['patientId', 'patientToken', 'professionalToken', 'professionalRef', 'doctorToken', 'minorId', 'representativeToken'];

const ACTORS_EXPECTED = `a JSON object { ${SPACE_ACTOR_KEYS.join(', ')} }`;

/** Why the actors file cannot be read, in words, as for --private-key: errno codes mean little to an operator. */
function unreadableActors(file: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return `--space-actors ${file}: no such file`;
  if (err.code === 'EISDIR') return `--space-actors ${file} is a directory, not an actors file`;
  if (err.code === 'EACCES' || err.code === 'EPERM') return `--space-actors ${file} cannot be read: permission denied`;
  return `--space-actors ${file} cannot be read: ${err.message}`;
}

/** A misspelt key would silently leave its actor out (and its checks skipped): every key must be known. */
async function checkSpaceActorsKeys(file: string): Promise<void> {
  let parsed: unknown;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(unreadableActors(file, err as NodeJS.ErrnoException), { cause: err });
  }
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`--space-actors ${file} is not JSON (${(err as Error).message}); it must hold ${ACTORS_EXPECTED}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`--space-actors ${file} holds no JSON object; it must hold ${ACTORS_EXPECTED}`);
  const unknown = Object.keys(parsed).filter((k) => !SPACE_ACTOR_KEYS.includes(k));
  if (unknown.length > 0) {
    throw new Error(`--space-actors ${file}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${SPACE_ACTOR_KEYS.join(', ')})`);
  }
}

async function spaceActors(o: CliOptions): Promise<SpaceActors> {
  if (o.spaceActors) await checkSpaceActorsKeys(o.spaceActors);
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
