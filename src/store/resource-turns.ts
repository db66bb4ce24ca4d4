import { VersionConflictError } from '../errors.js';

/**
 * Writes to one resource that reach this server together take turns: each
 * reads the version it replaces once the one before it has landed, instead
 * of all reading the same version and all but one failing the engine's
 * version check. Different resources never wait for each other. Servers
 * sharing a store still race (the engine's check catches it, and the write
 * is redone: see writeInTurn), except on the resources `acrossServers`
 * covers: their turns are also taken with the other servers (a lease in the
 * store), for rules that span resources, which no version check sees (a
 * document naming a Binary while another server deletes it).
 */
export class ResourceTurns {
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly acrossServers?: AcrossServers) {}

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const across = this.acrossServers;
    const turn = across ? () => across(key, work) : work;
    const before = this.tails.get(key);
    const run = before ? before.then(turn, turn) : turn();
    const tail = run.catch(() => undefined);
    this.tails.set(key, tail);
    // The last in line removes its key, so the map holds only resources being written.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }
}

/** Runs `work` in the turn of `key` among the servers sharing a store (or straight away, for keys it leaves to the engine's checks). */
export type AcrossServers = <T>(key: string, work: () => Promise<T>) => Promise<T>;

/** Attempts of a write that keeps meeting another server's write to the same resource. */
const MAX_ATTEMPTS = 5;

/**
 * Runs a write to one resource (PUT, PATCH, DELETE by id) in its turn on this
 * server (ResourceTurns). `work` reads the current version itself, so a redo
 * decides afresh (policy, domain rules, create or update). When the store
 * still finds that another write came first (another server):
 * - with `If-Match`, the client named the version it replaces, and that
 *   precondition failed: 412, as a stale If-Match is (http.html#concurrency);
 * - without, the client asked for no version: the write is redone on the new
 *   current version, as if it had arrived a moment later.
 */
export function writeInTurn<T>(turns: ResourceTurns, type: string, id: string, ifMatch: string | undefined, work: () => Promise<T>): Promise<T> {
  return turns.run(`${type}/${id}`, async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (err) {
        if (!(err instanceof VersionConflictError) || err.statusCode !== 409) throw err;
        // `If-Match: *` names no version: any current one meets it, as on a first attempt.
        if (ifMatch !== undefined && ifMatch.trim() !== '*') throw new VersionConflictError(`If-Match ${ifMatch.slice(0, 40)} no longer matches: another write to ${type}/${id} came first`, 412);
        if (attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  });
}

/**
 * The one order in which a request that takes several turns takes them, so
 * that two requests never wait for each other in a circle. Whoever holds the
 * conditional queue (Repository.serialised) may wait for turns; whoever holds
 * a turn never waits for the queue. Then: every resource other than a Binary
 * before every Binary, each group sorted by key. That is the order a direct
 * write already follows (its resource's turn, then the turns of the Binaries
 * its document names: space/documents/document-content.ts), and the one a
 * transaction follows (store/bundle-processor.ts takeTurns: the resources it
 * writes by id before it reads any of them, then the Binaries its documents
 * name before it commits; it starts again when one of those would come
 * before a turn it holds).
 */
export function turnOrder(a: string, b: string): number {
  const [binaryA, binaryB] = [a.startsWith('Binary/'), b.startsWith('Binary/')];
  if (binaryA !== binaryB) return binaryA ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * HeldTurns.extend was asked for turns that come before one already held
 * (turnOrder): taking them now could close a circle. The caller gives back
 * what it holds and starts again with `keys` among the turns it takes first.
 */
export class TurnsOutOfOrder extends Error {
  constructor(readonly keys: string[]) {
    super(`Turns ${keys.join(', ')} come before turns already held`);
  }
}

/**
 * Turns taken from within a write and held until it is done (ResourceTurns
 * gives a turn for the length of a callback; the commit happens after the
 * check that takes these returns). Taken in the order given, sorted by the
 * caller in turnOrder (space/documents/document-content.ts contentTurns), so
 * that two writes never wait for each other in a circle. A turn that cannot
 * be taken (its lease among servers refused, or waited for too long) gives
 * back those already taken and fails the write: the turns are never left held.
 */
export class HeldTurns {
  private keys: string[] = [];
  private readonly releases: Array<() => void> = [];
  constructor(private readonly turns: ResourceTurns) {}

  async take(keys: string[]): Promise<void> {
    // A write redone (after a version conflict) checks again: the same turns are already held.
    if (keys.length === this.keys.length && keys.every((key, i) => key === this.keys[i])) return;
    this.release();
    await this.enter(keys);
  }

  /**
   * Takes, besides those held, the turns of `keys` not held yet, in
   * turnOrder; TurnsOutOfOrder (nothing taken) when one of them comes before
   * a turn already held.
   */
  async extend(keys: Iterable<string>): Promise<void> {
    const held = new Set(this.keys);
    const missing = [...new Set(keys)].filter((key) => !held.has(key)).sort(turnOrder);
    if (!missing.length) return;
    const last = this.keys[this.keys.length - 1];
    if (last !== undefined && turnOrder(missing[0]!, last) < 0) throw new TurnsOutOfOrder(missing);
    await this.enter(missing);
  }

  private async enter(keys: string[]): Promise<void> {
    try {
      for (const key of keys) {
        await new Promise<void>((entered, failed) => {
          this.turns.run(key, () => new Promise<void>((done) => {
            this.releases.push(done);
            entered();
          })).catch(failed);
        });
        this.keys.push(key);
      }
    } catch (err) {
      this.release();
      throw err;
    }
  }

  release(): void {
    for (const done of this.releases.splice(0)) done();
    this.keys = [];
  }
}
