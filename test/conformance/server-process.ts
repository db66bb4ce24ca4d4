import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import { nodeArgsFor, repoRoot } from '../helpers/repo.js';

export interface RunningServer {
  /** http://127.0.0.1:<port> */
  url: string;
  fhirBase: string;
  dataDir: string;
  devClient: { clientId: string; privateJwk: JWK };
  /** With `ehrApp`: a public app of the operator (CLIENTS_FILE, not of the catalogue) that professionals sign in to on an EHR launch. */
  ehrApp?: { clientId: string; redirectUri: string };
  stop(): Promise<void>;
}

/** The operator's EHR app: professionals get patient data through it (a catalogue app only gives them who they are). */
export const EHR_APP = { clientId: 'ehr-app', redirectUri: 'http://localhost:5555/callback' };

/**
 * A CLIENTS_FILE holding the system client (written as `<dataDir>/dev-client.json` too,
 * as the server writes its development client, so `devClient` and `--private-key` work
 * alike) and {@link EHR_APP}.
 */
async function writeClients(dataDir: string): Promise<string> {
  const { privateKey } = await generateKeyPair('ES384', { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'ES384' };
  const { d: _d, ...publicJwk } = privateJwk;
  const system = { clientId: 'carnet-dev', scope: 'system/*.cruds' };
  await writeFile(join(dataDir, 'dev-client.json'), JSON.stringify({ ...system, alg: 'ES384', privateJwk }), { mode: 0o600 });
  const file = join(dataDir, 'clients.json');
  await writeFile(file, JSON.stringify([
    { ...system, name: 'Conformance tests', kind: 'system', jwks: { keys: [publicJwk] } },
    { clientId: EHR_APP.clientId, name: 'EHR app', kind: 'app', scope: 'launch patient/*.rs user/*.rs openid fhirUser', tokenEndpointAuthMethod: 'none', redirectUris: [EHR_APP.redirectUri] },
  ]));
  return file;
}

/**
 * Starts the real carnet server as a child process on a temporary data
 * directory, the way an operator would, with `env` on top of the test's own
 * environment (`ACCESS_TOKEN_SECONDS`), and with `ehrApp` a CLIENTS_FILE
 * registering {@link EHR_APP}. Always `stop()` it in teardown.
 */
export async function startServer(options: { seed?: boolean; env?: Record<string, string>; ehrApp?: boolean } = {}): Promise<RunningServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'carnet-conformance-'));
  const cwd = repoRoot;
  const env = { ...options.env, ...(options.ehrApp ? { CLIENTS_FILE: await writeClients(dataDir) } : {}) };
  // The demo accounts exist only through the repository's own seed script (no HTTP API creates accounts).
  if (options.seed) await runSeed(cwd, dataDir, env);
  const child: ChildProcess = spawn(process.execPath, nodeArgsFor('src/main.ts'), {
    cwd,
    env: { ...process.env, ...env, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${logs.join('')}`)), 30_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code} before listening:\n${logs.join('')}`));
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        logs.push(line);
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string };
          if (entry.msg === 'carnet listening' && entry.url) {
            clearTimeout(timer);
            resolve(entry.url);
          }
        } catch {
          // not a JSON log line
        }
      });
    });
    const devClient = JSON.parse(await readFile(join(dataDir, 'dev-client.json'), 'utf8')) as RunningServer['devClient'];
    return { url, fhirBase: `${url}/fhir`, dataDir, devClient, ...(options.ehrApp ? { ehrApp: EHR_APP } : {}), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function runSeed(cwd: string, dataDir: string, env: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, nodeArgsFor('scripts/seed.ts'), {
    cwd,
    env: { ...process.env, ...env, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`npm run seed failed (${code}):\n${out}`);
  }
}
