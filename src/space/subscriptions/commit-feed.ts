import type { StoreEngine, VersionRecord, WriteOp } from '../../store/engine.js';

/** Called with the versions of each successful commit, once they are durable. */
export type CommitListener = (records: VersionRecord[]) => void | Promise<void>;

export interface CommitFeed {
  /** Returns the function that unsubscribes. */
  subscribe(listener: CommitListener): () => void;
}

/**
 * Wraps an engine so that whatever commits through it (REST writes,
 * transactions, the audit trail) is announced after the commit: the one place
 * notifications and Subscriptions learn of new versions, whichever route wrote
 * them. The engine contract is unchanged; other members pass through.
 * Listeners are awaited (a notification written "right after" is in the store
 * before the client gets its answer); a listener's failure never fails the write.
 */
export function observeCommits(engine: StoreEngine, onError: (err: unknown) => void = () => undefined): { engine: StoreEngine; feed: CommitFeed } {
  const listeners = new Set<CommitListener>();
  const commit = async (ops: WriteOp[]): Promise<void> => {
    await engine.commit(ops);
    if (listeners.size === 0) return;
    const records = ops.map((op) => op.record);
    for (const listener of listeners) {
      try {
        // A listener with nothing to do answers synchronously: no await, no extra turn per commit.
        const pending = listener(records);
        if (pending) await pending;
      } catch (err) {
        onError(err);
      }
    }
  };
  // A plain delegate rather than a Proxy: reads go through it on every request.
  const observed: StoreEngine = {
    kind: engine.kind,
    open: () => engine.open(),
    close: () => engine.close(),
    isReady: () => engine.isReady(),
    current: (type, id) => engine.current(type, id),
    version: (type, id, vid) => engine.version(type, id, vid),
    commit,
    find: (query) => engine.find(query),
    count: (query) => engine.count(query),
    history: (query) => engine.history(query),
    kv: engine.kv,
    blobs: engine.blobs,
  };
  return {
    engine: observed,
    feed: {
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
  };
}
