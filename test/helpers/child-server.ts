import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../src/free-port.js';
import { request } from 'undici';
import { nodeArgsFor, repoRoot as root } from './repo.js';
import { signClientAssertion } from './tokens.js';
import type { TestClient } from './tokens.js';

export { freePort };

export interface ChildServer {
  process: ChildProcess;
  url: string;
  fhirBase: string;
  /** Everything the child wrote on stderr and stdout so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once the child has exited. */
  exited: Promise<number | string>;
}

/** The built bundle `npm start` runs (scripts/bundle-server.ts); `npm test` builds it first. */
export const BUNDLED_MAIN = path.join(root, 'dist', 'src', 'bundle', 'main.js');

export interface ChildServerOptions {
  timeoutMs?: number;
  bundled?: boolean;
  /**
   * Runs the server under `ulimit -f` (bash): the kernel refuses any write
   * that would grow a file past this many KiB (EFBIG, a real disk error).
   * Node ignores the SIGXFSZ that comes with it, as a server started by
   * `npm start` does; the test runner's hook (@tapjs/processinfo, which tap
   * puts back into the NODE_OPTIONS of every process a test spawns) would
   * re-raise it and kill the server, so bash leaves it out before exec.
   */
  fileSizeLimitKiB?: number;
}

/** NODE_OPTIONS without tap's process-tracking hook (its exit handlers re-raise SIGXFSZ). */
function withoutTapHooks(nodeOptions: string | undefined): string {
  return (nodeOptions ?? '').split(/\s+/).filter((option) => option && !option.includes('@tapjs/processinfo')).join(' ');
}

/**
 * Starts the real server as a child process and waits for its "carnet
 * listening" log line: as the tests run (their build, or the sources through
 * tsx: repo.ts), or, with `bundled`, the built bundle that `npm start` runs.
 */
export async function startChildServer(env: Record<string, string>, options: ChildServerOptions = {}): Promise<ChildServer> {
  const port = env.PORT ?? String(await freePort());
  const args = options.bundled ? [BUNDLED_MAIN] : nodeArgsFor('src/main.ts');
  const limit = options.fileSizeLimitKiB;
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new Error(`fileSizeLimitKiB must be a positive integer, not ${limit}`);
  // exec: the server takes over bash's process, so that signals sent to the child reach it.
  const [command, commandArgs]: [string, string[]] = limit === undefined
    ? [process.execPath, args]
    : ['bash', ['-c', `ulimit -f ${limit} && export NODE_OPTIONS="$1" && exec "$0" "\${@:2}"`, process.execPath, withoutTapHooks(process.env.NODE_OPTIONS), ...args]];
  const child = spawn(command, commandArgs, {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env, PORT: port },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const url = `http://127.0.0.1:${port}`;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${out}`)), options.timeoutMs ?? 30_000);
    const check = () => {
      if (out.includes('carnet listening')) { clearTimeout(timer); resolve(); }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before listening:\n${out}`)); });
  });
  return { process: child, url, fhirBase: `${url}/fhir`, output: () => out, exited };
}

/** Runs the server expecting it to refuse to start; resolves with its exit code and output. */
export async function runChildServerExpectingFailure(env: Record<string, string>): Promise<{ code: number | string; output: string }> {
  const child = spawn(process.execPath, nodeArgsFor('src/main.ts'), {
    cwd: root, env: { ...process.env, HOST: '127.0.0.1', LOG_LEVEL: 'info', PORT: String(await freePort()), ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | string>((resolve) => child.once('exit', (c, s) => resolve(c ?? s ?? 'unknown')));
  clearTimeout(timer);
  return { code, output: out };
}


export async function stopChildServer(server: ChildServer, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (server.process.exitCode !== null || server.process.signalCode !== null) return;
  server.process.kill(signal);
  await server.exited;
}

/** A system token for `client` from a child server's own token endpoint (client_credentials, private_key_jwt). */
export async function childServerToken(server: ChildServer, client: TestClient, scope = 'system/*.cruds'): Promise<string> {
  const tokenUrl = `${server.url}/auth/token`;
  const res = await request(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await signClientAssertion(client, tokenUrl),
      scope,
    }).toString(),
  });
  return ((await res.body.json()) as { access_token: string }).access_token;
}
