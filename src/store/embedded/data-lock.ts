import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EngineLog } from './journal.js';

/**
 * Directories this process holds. A LOCK naming our own pid that is not in
 * here is stale: a container restarted after `kill -9` often gets the same pid.
 */
const held = new Set<string>();

export interface DataLock {
  release(): Promise<void>;
}

/**
 * Takes the exclusive lock on a data directory: a `LOCK` file created with
 * O_EXCL holding our pid. A lock left by a process that no longer exists is
 * replaced; a live holder makes this throw.
 */
export async function acquireDataLock(dir: string, log: EngineLog): Promise<DataLock> {
  const file = path.join(dir, 'LOCK');
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      held.add(dir);
      return { release: () => release(dir, file) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await readOwner(file);
    // An empty LOCK younger than a few seconds is a holder still writing its pid.
    if (owner === undefined && (await isFresh(file))) throw new Error(`data directory ${dir} is in use by another process`);
    if (owner !== undefined && isLive(owner, dir)) throw new Error(`data directory ${dir} is in use by process ${owner}`);
    if (attempt > 0) throw new Error(`data directory ${dir}: could not take its LOCK file`);
    log.warn(`data directory ${dir}: removing the stale lock of process ${owner ?? '(unreadable)'}`);
    await unlink(file).catch(() => undefined);
  }
}

async function release(dir: string, file: string): Promise<void> {
  if (!held.delete(dir)) return;
  if ((await readOwner(file)) === process.pid) await unlink(file).catch(() => undefined);
}

async function readOwner(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(file, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function isFresh(file: string): Promise<boolean> {
  const stats = await stat(file).catch(() => undefined);
  return stats !== undefined && Date.now() - stats.mtimeMs < 5000;
}

function isLive(pid: number, dir: string): boolean {
  if (pid === process.pid) return held.has(dir);
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
