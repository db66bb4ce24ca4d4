import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loaderArgs, repoRoot, runnableUrl } from '../helpers/repo.js';

/**
 * worker.terminate() refs the worker until its 'exit', and WriteWorkers.close()
 * resolves then. An answer read between the two used to unref the worker
 * again: a process with nothing else to do ended with close() pending. Under
 * tap that was a server's teardown (app.close()) left unfinished, "error
 * thrown in teardown" and "test unfinished", about once in ten loaded runs of
 * test/http/search-review-compartment-filter.test.ts, whose server was still
 * materialising AuditEvents through its worker when the test ended.
 *
 * The case is made in a process of its own, where nothing else keeps the
 * event loop alive: its main thread sleeps while the worker answers, so the
 * answer is read only once close() has begun.
 */
function script(blockMs: number): string {
  return `
const { writeSync } = await import('node:fs');
const { WriteWorkers } = await import(${JSON.stringify(runnableUrl('src/store/write-workers/write-workers.ts'))});
let answeredBy = 'no worker started';
let closed = false;
process.on('exit', () => writeSync(1, JSON.stringify({ answeredBy, closed }) + '\\n'));
const silent = { info() {}, warn() {}, error() {} };
const workers = new WriteWorkers({ size: 1, requiredProfiles: {}, fhirBase: 'http://carnet.test/fhir', log: silent,
  analyseHere: () => { throw new Error('main thread'); } });
const patient = (id) => JSON.stringify({ resourceType: 'Patient', id, name: [{ family: 'Martin' }] });
await workers.ready();
const warm = workers.analyse(patient('warm'), 'create');
if (warm) {
  await warm;
  const answer = workers.analyse(patient('p1'), 'create').then(() => 'worker', (err) => err.message);
  await new Promise((resolve) => setImmediate(resolve));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${blockMs});
  const closing = workers.close();
  answeredBy = await answer;
  await closing;
  closed = true;
}
`;
}

async function run(blockMs: number): Promise<{ code: number | string; output: string; result?: { answeredBy: string; closed: boolean } }> {
  // A file, not `--input-type=module -e`: a worker thread inherits the process's execArgv, and
  // with --input-type it cannot load its own file (ERR_INPUT_TYPE_NOT_ALLOWED) when run from the build.
  const dir = await mkdtemp(path.join(tmpdir(), 'carnet-close-'));
  const file = path.join(dir, 'close.mjs');
  await writeFile(file, script(blockMs));
  const child = spawn(process.execPath, [...loaderArgs, file], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const code = await new Promise<number | string>((resolve) => child.once('exit', (c, signal) => resolve(c ?? signal ?? 'unknown')));
  clearTimeout(timer);
  await rm(dir, { recursive: true, force: true });
  const line = output.split('\n').find((l) => l.startsWith('{"answeredBy"'));
  return { code, output, result: line ? (JSON.parse(line) as { answeredBy: string; closed: boolean }) : undefined };
}

t.test('closed while an answer is on its way to the main thread: close() resolves before the process may end', async (t) => {
  // The worker must answer while the main thread sleeps; on a loaded machine it may need longer.
  for (const blockMs of [300, 1500, 6000]) {
    const { code, output, result } = await run(blockMs);
    if (result?.answeredBy === 'main thread') continue;
    t.same(result, { answeredBy: 'worker', closed: true }, 'the answer came from the worker, then close() resolved', { output });
    t.equal(code, 0, 'the process ended normally', { output });
    return;
  }
  t.fail('the worker never answered while the main thread slept: the case was not made');
});
