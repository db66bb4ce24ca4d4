import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EngineLog } from './journal.js';

/**
 * Directories this process holds (resolved paths). A LOCK naming our own pid
 * whose directory is not in here is stale: a container restarted after
 * `kill -9` often gets the same pid.
 */
const held = new Set<string>();

export interface DataLock {
  release(): Promise<void>;
}

/**
 * What serialises the replacement of a stale LOCK (see acquireDataLock):
 * - `abstract-socket` (Linux, the default there): listening on the abstract
 *   Unix socket `\0carnet-lock-<st_dev>-<st_ino>` of the directory. Only one
 *   socket can listen on a name, and the kernel frees the name when its
 *   process dies, however it dies.
 * - `file` (the default elsewhere): creating `LOCK.takeover` with O_EXCL,
 *   removed when done. Nothing frees it if its process dies in those few
 *   milliseconds: the next start that finds a stale LOCK is then refused,
 *   with what to do, until someone removes it. It never guesses.
 */
export type TakeoverMutex = 'abstract-socket' | 'file';

export interface DataLockOptions {
  /** Which mutex serialises takeovers (tests try both); by default the platform's. */
  mutex?: TakeoverMutex;
  /** How long to wait for another process's takeover before giving up (ms, 3 s by default). */
  waitMs?: number;
}

const TAKEOVER_FILE = 'LOCK.takeover';

/**
 * Takes the exclusive lock on a data directory: a `LOCK` file created with
 * O_EXCL holding our pid. A lock left by a process that no longer exists is
 * replaced; a live holder makes this throw.
 *
 * Replacing a stale LOCK is a read, an unlink and a create: done freely, a
 * slow process could unlink the LOCK a faster one has just created, and both
 * would hold the directory. So it is done only while holding the takeover
 * mutex, re-reading LOCK under it. Why that cannot race, case by case:
 * - Once created, LOCK is removed only by its holder (release), or by a taker
 *   that holds the mutex and has just read, under it, that LOCK's owner is
 *   dead. So while we hold the mutex, a LOCK we read as stale stays the same
 *   file until we unlink it: no other taker can replace it (mutex), its
 *   owner is dead (no release), and nobody can create it (it exists).
 * - Another process may create LOCK (the O_EXCL fast path, no mutex) between
 *   our unlink and our create. Then our O_EXCL create fails: we drop the
 *   mutex and start over, and find that process alive: refused. One holder.
 * - Another taker that read the same stale LOCK before us waits for the
 *   mutex, then re-reads LOCK and finds us (alive): refused. We write our pid
 *   before dropping the mutex, so it never reads our LOCK empty.
 * - A taker killed while holding the mutex: the kernel frees the abstract
 *   socket, and what it left is a stale LOCK, no LOCK, or an empty LOCK
 *   (treated as in use for 5 s, then stale), each handled as above. (With the
 *   `file` mutex, LOCK.takeover stays: see TakeoverMutex.)
 * The one window left is the existing one: a process stalled for more than
 * 5 s between creating LOCK and writing its pid is taken for dead.
 * Scope: pids, like the abstract socket, belong to one host (one pid and
 * network namespace): two containers with their own namespaces that mount
 * the same DATA_DIR do not see each other's processes, and this lock cannot
 * keep them apart.
 */
export async function acquireDataLock(dir: string, log: EngineLog, options: DataLockOptions = {}): Promise<DataLock> {
  const key = path.resolve(dir);
  const file = path.join(dir, 'LOCK');
  const kind = options.mutex ?? (process.platform === 'linux' ? 'abstract-socket' : 'file');
  const deadline = Date.now() + (options.waitMs ?? 3000);
  for (;;) {
    if (await create(file)) return hold(key, file);
    if ((await staleOwner(dir, key, file)) === ABSENT) continue;
    const mutex = await takeTakeoverMutex(dir, kind);
    if (!mutex) {
      // Another process is replacing this stale LOCK: wait, then read it again.
      if (Date.now() >= deadline) throw new Error(kind === 'file' ? `data directory ${dir}: could not take its LOCK file: ${path.join(dir, TAKEOVER_FILE)} is left by a start that was replacing a stale LOCK; remove it if no carnet process is starting on this directory` : `data directory ${dir}: could not take its LOCK file`);
      await sleep(5 + Math.random() * 20);
      continue;
    }
    try {
      const owner = await staleOwner(dir, key, file);
      if (owner === ABSENT) continue;
      log.warn(`data directory ${dir}: removing the stale lock of process ${owner ?? '(unreadable)'}`);
      await unlink(file).catch(ignoreAbsent);
      if (await create(file)) return hold(key, file);
      // EEXIST: another process created LOCK since our unlink; start over (it is alive: refused).
    } finally {
      await mutex.release();
    }
  }
}

const ABSENT = Symbol('no LOCK');

/**
 * The owner of a LOCK that may be replaced (undefined when its content is
 * unreadable), or ABSENT; throws when LOCK belongs to a live process.
 */
async function staleOwner(dir: string, key: string, file: string): Promise<number | undefined | typeof ABSENT> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return ABSENT;
    throw err;
  }
  const pid = Number(text.trim());
  const owner = Number.isInteger(pid) && pid > 0 ? pid : undefined;
  // An empty LOCK younger than a few seconds is a holder still writing its pid.
  if (owner === undefined && (await isFresh(file))) throw new Error(`data directory ${dir} is in use by another process`);
  if (owner !== undefined && isLive(owner, key)) throw new Error(`data directory ${dir} is in use by process ${owner}`);
  return owner;
}

/** Creates LOCK with our pid unless it exists (false). */
async function create(file: string): Promise<boolean> {
  try {
    await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function hold(key: string, file: string): DataLock {
  held.add(key);
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      // Unlink before forgetting the directory: meanwhile, another open in this
      // process finds LOCK naming a holder, not a stale pid to replace.
      if ((await readOwner(file)) === process.pid) await unlink(file).catch(() => undefined);
      held.delete(key);
    },
  };
}

interface Mutex {
  release(): Promise<void>;
}

/** The takeover mutex of `dir`, or undefined when another process holds it. */
async function takeTakeoverMutex(dir: string, kind: TakeoverMutex): Promise<Mutex | undefined> {
  if (kind === 'file') {
    const file = path.join(dir, TAKEOVER_FILE);
    if (!(await create(file))) return undefined;
    // Should this unlink fail, LOCK.takeover stays and stale LOCKs are refused: safe.
    return { release: () => unlink(file).catch(() => undefined) };
  }
  // The directory's identity, not its path: two paths to one directory share the mutex.
  const { dev, ino } = await stat(dir, { bigint: true });
  const server = createServer((socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err)));
    // exclusive: a cluster worker listens itself rather than through the primary.
    server.listen({ path: `\0carnet-lock-${dev}-${ino}`, exclusive: true }, () => {
      server.unref();
      resolve({ release: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
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

function isLive(pid: number, key: string): boolean {
  if (pid === process.pid) return held.has(key);
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ignoreAbsent(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
