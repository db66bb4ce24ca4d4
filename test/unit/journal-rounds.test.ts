/**
 * The journal writes several group commits at once, each at its own offset.
 * What its callers rely on: acknowledgements in journal order, a crash that
 * leaves a hole loses only frames nobody was told about, and a failed write
 * refuses every frame not yet acknowledged.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { Journal } from '../../src/store/embedded/journal.js';
import { recordingLog } from '../helpers/recording-log.js';
import { loaderArgs, runnableUrl } from '../helpers/repo.js';

async function tempFile(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'carnet-rounds-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return path.join(dir, 'journal');
}

async function replayed(file: string, log = recordingLog().log): Promise<string[]> {
  const frames: string[] = [];
  const journal = await Journal.open(file, log, (payload) => void frames.push(payload.toString()));
  await journal.close();
  return frames;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

t.test('frames are acknowledged in the order they were appended, even when a later write finishes first', async (t) => {
  const file = await tempFile(t);
  const journal = await Journal.open(file, recordingLog().log, () => undefined);
  const resolved: string[] = [];
  const durable: number[] = [];
  const append = (name: string, payload: Buffer) => journal.append(payload, (offset) => void durable.push(offset)).then(() => void resolved.push(name));
  // An 8 MiB frame takes its round well past the small ones that follow, each started a turn later in its own round.
  const pending = [append('big', Buffer.alloc(8 * 1024 * 1024, 'b'))];
  for (let i = 0; i < 6; i++) {
    await nextTurn();
    pending.push(append(`small${i}`, Buffer.from(`small frame ${i}`)));
  }
  await Promise.all(pending);
  t.same(resolved, ['big', 'small0', 'small1', 'small2', 'small3', 'small4', 'small5'], 'promises resolve in journal order');
  t.same(durable, [...durable].sort((a, b) => a - b), 'onDurable runs in journal order');
  t.equal(new Set(durable).size, 7, 'each frame has its own offset');
  await journal.close();
  const frames = await replayed(file);
  t.equal(frames.length, 7);
  t.same(frames.slice(1), ['small frame 0', 'small frame 1', 'small frame 2', 'small frame 3', 'small frame 4', 'small frame 5']);
});

t.test('a hole left by a write that never reached the disk cuts the journal there, though later frames did', async (t) => {
  const file = await tempFile(t);
  const offsets: number[] = [];
  const journal = await Journal.open(file, recordingLog().log, () => undefined);
  await journal.append(Buffer.from('first'.repeat(100)), (offset) => void offsets.push(offset));
  // Two frames on their way at once: neither was acknowledged when the other was appended.
  await Promise.all(['lost', 'after the hole'].map((name) => journal.append(Buffer.from(name.repeat(100)), (offset) => void offsets.push(offset))));
  // The file as a crash leaves it: without the mark a clean close adds, which attests every frame.
  const image = await readFile(file);
  await journal.close();
  await writeFile(file, image);
  // The second frame's bytes never made it (a crash while it was in flight); the third's did.
  const fh = await open(file, 'r+');
  await fh.write(Buffer.alloc(offsets[2]! - offsets[1]!), 0, offsets[2]! - offsets[1]!, offsets[1]!);
  await fh.close();
  const { warnings, log } = recordingLog();
  t.same(await replayed(file, log), ['first'.repeat(100)], 'nothing past the hole is replayed');
  t.match(warnings, [/torn or corrupt tail/], 'the operator is told');
  t.equal((await stat(file)).size, offsets[1]! + 16, 'the file is cut where the hole starts (then ends with the mark the open adds)');
});

t.test('a failed write refuses every frame not yet acknowledged, and every later one', async (t) => {
  const file = await tempFile(t);
  const journalModule = runnableUrl('src/store/embedded/journal.ts');
  // A real write error: the child may not grow any file past 64 KiB (EFBIG), and its appends come in rounds of 8, a turn apart.
  const script = `
    import { Journal } from ${JSON.stringify(journalModule)};
    // The kernel also sends SIGXFSZ; Node ignores it, but the test runner's exit hooks re-raise it unless someone listens.
    process.on('SIGXFSZ', () => undefined);
    const journal = await Journal.open(${JSON.stringify(file)}, { warn: () => undefined, info: () => undefined }, () => undefined);
    const resolved = [], rejected = [], durable = [];
    const all = [];
    for (let i = 0; i < 160; i++) {
      all.push(journal.append(Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(1000) })), () => durable.push(i)).then(() => resolved.push(i), () => rejected.push(i)));
      if (i % 8 === 7) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    const late = await journal.append(Buffer.from('late'), () => undefined).then(() => 'accepted', (err) => err.message);
    await journal.close();
    process.stdout.write(JSON.stringify({ resolved, rejected, durable, late, cause: journal.failed?.cause?.code }));
  `;
  const child = spawn('bash', ['-c', `ulimit -f 64 && exec "$0" ${loaderArgs.join(' ')} --input-type=module -e "$1"`, process.execPath, script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? s)));
  t.equal(code, 0, 'the writer ran to its end');
  const { resolved, rejected, durable, late, cause } = JSON.parse(out) as { resolved: number[]; rejected: number[]; durable: number[]; late: string; cause: string };
  t.equal(cause, 'EFBIG', 'the disk refused a write');
  t.ok(resolved.length > 0 && rejected.length > 0, `some frames were acknowledged (${resolved.length}), the rest refused (${rejected.length})`);
  t.same(resolved, Array.from({ length: resolved.length }, (_, i) => i), 'the acknowledged frames are the first ones, in order');
  t.same(durable, resolved, 'onDurable ran for exactly the acknowledged frames');
  t.same(rejected.sort((a, b) => a - b), Array.from({ length: 160 - resolved.length }, (_, i) => resolved.length + i), 'every later frame was refused');
  t.match(late, /accepts no more writes/, 'an append after the failure is refused');
  const frames = (await replayed(file)).map((f) => (JSON.parse(f) as { i: number }).i);
  t.same(frames.slice(0, resolved.length), resolved, 'every acknowledged frame is on disk');
  t.same(frames, Array.from({ length: frames.length }, (_, i) => i), 'nothing out of order or half-written is replayed');
});
