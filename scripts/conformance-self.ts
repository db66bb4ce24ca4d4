/**
 * Runs the conformance kit, every suite, against a freshly started carnet (the
 * bundle that `npm start` runs, on a new data directory): part of `npm test`,
 * so CI checks that the server users run passes its own kit. Exits non-zero
 * when a SHALL check fails.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/free-port.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');


async function main(): Promise<number> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'carnet-conformance-'));
  const port = await freePort();
  const server = spawn(process.execPath, [path.join(root, 'dist', 'src', 'bundle', 'main.js')], {
    cwd: root, env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('carnet listening')) resolve(); });
      server.once('exit', (code) => reject(new Error(`carnet exited (${code}) before listening`)));
    });
    const kit = spawn(process.execPath, [path.join(root, 'dist', 'conformance', 'bin', 'carnet-conformance.js'),
      '--base', `http://127.0.0.1:${port}/fhir`, '--private-key', path.join(dataDir, 'dev-client.json'),
      '--report-dir', path.join(root, 'dist', 'conformance-reports'), '--fail-on', 'error'], { cwd: root, stdio: 'inherit' });
    return await new Promise<number>((resolve) => kit.once('exit', (code) => resolve(code ?? 1)));
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(`conformance-self: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
