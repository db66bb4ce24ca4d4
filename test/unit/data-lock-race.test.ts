import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { acquireDataLock } from '../../src/store/embedded/data-lock.js';
import { recordingLog } from '../helpers/recording-log.js';
import { loaderArgs, runnableUrl } from '../helpers/repo.js';
import { tempDir } from '../helpers/tokens.js';

/**
 * Several processes start on one data directory at the same moment while its
 * LOCK names a process that died (a restart after `kill -9`): exactly one of
 * them may get the directory, every time. The old takeover (read the dead pid,
 * unlink, create) let a slow process unlink the LOCK a fast one had just
 * created: two or three holders in about half the rounds.
 */
const PROCESSES = 4;
const ROUNDS = 40;

interface RoundResult { pid: number; result: string }

/** Children that stay up across rounds and race on a directory when told to, at one given instant. */
async function startRacers(t: Test, count: number): Promise<{ race: (dir: string, options: object) => Promise<RoundResult[]> }> {
  const script = `
    import { acquireDataLock } from ${JSON.stringify(runnableUrl('src/store/embedded/data-lock.ts'))};
    const log = { warn() {}, info() {} };
    const locks = [];
    process.on('message', async (m) => {
      while (Date.now() < m.at) {} // every racer leaves this loop within the same millisecond
      let result = 'held';
      try { locks.push(await acquireDataLock(m.dir, log, m.options)); } catch (err) { result = err.message; }
      process.send({ pid: process.pid, result });
    });
    process.send('ready');
  `;
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    const child = spawn(process.execPath, [...loaderArgs, '--input-type=module', '-e', script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    t.teardown(() => { child.kill('SIGKILL'); });
  }
  await Promise.all(children.map((child) => new Promise((resolve) => child.once('message', resolve))));
  return {
    race: async (dir, options) => {
      const at = Date.now() + 40;
      const answers = children.map((child) => new Promise<RoundResult>((resolve) => child.once('message', (m) => resolve(m as RoundResult))));
      for (const child of children) child.send({ dir, at, options });
      return Promise.all(answers);
    },
  };
}

/** The pid of a process that has exited: what a LOCK names after `kill -9`. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

for (const mutex of ['abstract-socket', 'file'] as const) {
  if (mutex === 'abstract-socket' && process.platform !== 'linux') continue;
  t.test(`racing processes on a stale LOCK: exactly one holder, every round (takeover through ${mutex})`, async (t) => {
    const racers = await startRacers(t, PROCESSES);
    const dead = await deadPid();
    const wrong: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const dir = await tempDir(t, 'carnet-lock-race-');
      await writeFile(path.join(dir, 'LOCK'), `${dead}\n`);
      const results = await racers.race(dir, { mutex });
      const holders = results.filter((r) => r.result === 'held');
      const refusals = results.filter((r) => r.result !== 'held');
      const lockPid = Number((await readFile(path.join(dir, 'LOCK'), 'utf8')).trim());
      if (holders.length !== 1) wrong.push(`round ${round}: ${holders.length} holders`);
      else if (lockPid !== holders[0].pid) wrong.push(`round ${round}: LOCK names ${lockPid}, the holder is ${holders[0].pid}`);
      // "another process": a racer read the LOCK another had created but not yet written its pid in.
      const refused = [`data directory ${dir} is in use by process ${holders[0]?.pid}`, `data directory ${dir} is in use by another process`];
      for (const r of refusals) {
        if (!refused.includes(r.result)) wrong.push(`round ${round}: refused with "${r.result}"`);
      }
    }
    t.same(wrong, [], `${ROUNDS} rounds of ${PROCESSES} processes`);
  });
}

t.test('portable takeover: a stale LOCK.takeover (a start killed while replacing LOCK) is refused with what to do, never guessed', async (t) => {
  const dir = await tempDir(t, 'carnet-lock-race-');
  await writeFile(path.join(dir, 'LOCK'), `${await deadPid()}\n`);
  await writeFile(path.join(dir, 'LOCK.takeover'), `${await deadPid()}\n`);
  const { log } = recordingLog();
  await t.rejects(acquireDataLock(dir, log, { mutex: 'file', waitMs: 100 }), {
    message: `data directory ${dir}: could not take its LOCK file: ${path.join(dir, 'LOCK.takeover')} is left by a start that was replacing a stale LOCK; remove it if no carnet process is starting on this directory`,
  });
  // Without a stale LOCK, nothing needs replacing: the directory opens.
  await rm(path.join(dir, 'LOCK'));
  const lock = await acquireDataLock(dir, log, { mutex: 'file' });
  t.equal((await readFile(path.join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid));
  await lock.release();
  await t.rejects(stat(path.join(dir, 'LOCK')), { code: 'ENOENT' });
});

t.test('a takeover leaves no mutex behind: the next stale LOCK is taken over too', async (t) => {
  for (const mutex of process.platform === 'linux' ? ['abstract-socket', 'file'] as const : ['file'] as const) {
    const dir = await tempDir(t, 'carnet-lock-race-');
    const { warnings, log } = recordingLog();
    const dead = await deadPid();
    await writeFile(path.join(dir, 'LOCK'), `${dead}\n`);
    const first = await acquireDataLock(dir, log, { mutex });
    await first.release();
    await writeFile(path.join(dir, 'LOCK'), `${dead}\n`);
    const second = await acquireDataLock(dir, log, { mutex });
    t.teardown(() => second.release());
    t.same(warnings, [1, 2].map(() => `data directory ${dir}: removing the stale lock of process ${dead}`), mutex);
    await t.rejects(stat(path.join(dir, 'LOCK.takeover')), { code: 'ENOENT' }, `${mutex}: no LOCK.takeover left`);
  }
});
