import { VersionConflictError } from '../errors.js';

/**
 * Writes to one resource that reach this server together take turns: each
 * reads the version it replaces once the one before it has landed, instead
 * of all reading the same version and all but one failing the engine's
 * version check. Different resources never wait for each other. Servers
 * sharing a store still race (the engine's check catches it, and the write
 * is redone: see writeInTurn).
 */
export class ResourceTurns {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key);
    const run = before ? before.then(work, work) : work();
    const tail = run.catch(() => undefined);
    this.tails.set(key, tail);
    // The last in line removes its key, so the map holds only resources being written.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }
}

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
        if (ifMatch !== undefined) throw new VersionConflictError(`If-Match ${ifMatch.slice(0, 40)} no longer matches: another write to ${type}/${id} came first`, 412);
        if (attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  });
}
